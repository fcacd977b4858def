/*
 * LAR, LSL, VERR and VERW on one descriptor (desc.h): the privilege check
 * (DPL against CPL and the selector's RPL, skipped for conforming code
 * segments), the system types each accepts (fewer in IA-32e mode, where
 * 16-bit TSSs, task gates and 16-bit call gates do not exist), and what
 * each returns.
 */
#include "desc.h"

/* System descriptor types LAR and LSL accept (SDM, LAR and LSL tables). */
static bool system_ok(enum desc_query q, unsigned type, bool long_mode)
{
	if (long_mode) {
		switch (type) {
		case 0x2: case 0x9: case 0xb:   /* LDT, 64-bit TSS available/busy */
			return true;
		case 0xc:                       /* 64-bit call gate: LAR only */
			return q == DESC_LAR;
		default:
			return false;
		}
	}
	switch (type) {
	case 0x1: case 0x2: case 0x3: case 0x9: case 0xb:   /* TSSs and the LDT */
		return true;
	case 0x4: case 0x5: case 0xc:                       /* call and task gates */
		return q == DESC_LAR;
	default:
		return false;
	}
}

bool desc_query(enum desc_query q, uint64_t desc, uint16_t sel, unsigned cpl, bool long_mode,
		uint32_t *out)
{
	uint32_t hi = (uint32_t)(desc >> 32);
	unsigned type = (hi >> 8) & 0xf, dpl = (hi >> 13) & 3, rpl = sel & 3;
	bool s = hi & (1u << 12), code = s && (type & 8), conforming = code && (type & 4);

	if (!s && (q == DESC_VERR || q == DESC_VERW || !system_ok(q, type, long_mode)))
		return false;
	if (!conforming && (dpl < cpl || dpl < rpl))
		return false;
	switch (q) {
	case DESC_LAR:
		*out = hi & 0x00f0ff00;
		return true;
	case DESC_LSL: {
		uint32_t limit = (uint32_t)(desc & 0xffff) | (hi & 0xf0000);

		*out = hi & (1u << 23) ? (limit << 12) | 0xfff : limit;
		return true;
	}
	case DESC_VERR:
		return !code || (type & 2);             /* data, or readable code */
	case DESC_VERW:
		return !code && (type & 2);             /* writable data only */
	}
	return false;
}
