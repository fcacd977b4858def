/*
 * The translation chain of one guest-virtual address, in both modes:
 *
 *   GVA -> the guest's entry at each level (its GPA and value) -> GPA
 *       -> memslot -> HVA -> host frame (/proc/self/pagemap)
 *
 * and in shadow mode beside it: the shadow entry at each level -> MPA ->
 * memslot -> the same HVA -> the same host frame.  If the two chains end at
 * different frames, that is an ombra bug, and the explanation says so.
 * Asked for with --explain=GVA,... (at guest exit), by the guest through
 * the test device (ports 0xe8/0xec), and kept for the JSON report.
 */
#ifndef OMBRA_EXPLAIN_H
#define OMBRA_EXPLAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mem.h"

/* The host frame behind hva (0 when pagemap hides it or it is not present). */
/* Open what explain_host_pfn reads, before the seccomp filter is on. */
void explain_init(void);
uint64_t explain_host_pfn(const void *hva, bool *visible);

/* The GPA -> memslot -> HVA -> host frame part, added to obj. */
void explain_gpa(const struct guest_mem *m, uint64_t gpa, json_t *obj);

/* Print an explanation object as text. */
void explain_print(FILE *out, json_t *obj);

#endif
