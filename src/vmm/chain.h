/*
 * The guest's half of a translation chain (explain.h): walk the guest's
 * tables for gva without side effects and describe every level.  Used by
 * both modes: shadow mode walks with its virtual CPU's state, tdp mode with
 * the registers KVM gives.
 */
#ifndef OMBRA_CHAIN_H
#define OMBRA_CHAIN_H

#include <jansson.h>
#include <stdint.h>

#include "mem.h"
#include "x86/walk.h"

/* paging: the guest's paging is on; walk (set up for its mode) is then
 * used.  Adds path, guest_walk, gpa (and the memslot part) or guest_fault. */
void chain_guest(const struct guest_mem *m, bool paging, const char *path, const struct walk_ctx *walk,
		 uint64_t gva, json_t *obj);

#endif
