/*
 * What LAR, LSL, VERR and VERW answer for one segment descriptor, as the
 * SDM's Operation sections (vol. 2A/2B) and the AMD APM say: pure logic on
 * the descriptor's eight bytes, for shadow mode's emulation of the patched
 * instructions (src/shadow/patch.c) and its unit tests.
 */
#ifndef OMBRA_DESC_H
#define OMBRA_DESC_H

#include <stdbool.h>
#include <stdint.h>

enum desc_query {
	DESC_LAR,     /* access rights: the descriptor's high dword & 0x00f0ff00 */
	DESC_LSL,     /* the limit, scaled by G */
	DESC_VERR,    /* readable from here? */
	DESC_VERW,    /* writable from here? */
};

/*
 * The answer for selector sel (its RPL counts) whose descriptor is desc,
 * asked at CPL cpl, in IA-32e mode (long, where the valid system types are
 * fewer) or not: true sets ZF and, for LAR and LSL, *out.  The caller has
 * already answered false for a null selector or one beyond its table's
 * limit.  The present bit is not checked, as the CPU does not.
 */
bool desc_query(enum desc_query q, uint64_t desc, uint16_t sel, unsigned cpl, bool long_mode,
		uint32_t *out);

#endif
