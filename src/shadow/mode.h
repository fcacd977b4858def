/*
 * Shadow mode as the rest of ombra sees it: the mode table the run loop
 * calls (struct vm_mode, src/vmm/vm.h), where guest RAM sits in machine
 * memory, and the mode's options.  The only shadow header outside
 * src/shadow includes; everything else is private (shadow.h).
 */
#ifndef OMBRA_SHADOW_MODE_H
#define OMBRA_SHADOW_MODE_H

#include <stdbool.h>

#include "vmm/vm.h"

/* Where guest RAM sits in machine memory: GPA + this.  256 GiB keeps every
 * MPA below the 40-bit physical address width of ombra's CPUID. */
#define SHADOW_RAM_MPA_OFFSET (256ULL << 30)

/* How shadow tables follow the guest's (docs/strategies.md). */
enum shadow_sync {
	SHADOW_SYNC_VTLB,            /* a virtual TLB: flushed on CR3 writes and INVLPG */
	SHADOW_SYNC_WP,              /* guest tables write-protected, their stores emulated */
	SHADOW_SYNC_UNSYNC,          /* like wp, but leaf tables may go out of sync until a flush */
};

/* Shadow mode's options, handed to vm_create as vm_config.mode_opts (NULL:
 * SHADOW_OPTS_DEFAULT).  Read once, at set-up. */
struct shadow_opts {
	enum shadow_sync sync;       /* --shadow-sync */
	unsigned pages;              /* --shadow-pages: the pool, 0: from the RAM size */
	bool audit;                  /* --audit: check the shadow after every MMU event */
	unsigned prefetch;           /* --prefetch=N, 0..8 */
	bool no_large;               /* --shadow-large=off: always split guest large pages */
	bool patch;                  /* --shadow-patch=on: scan guest code, patch the
				      * instructions that do not trap (patch.h) */
};

#define SHADOW_OPTS_DEFAULT { .sync = SHADOW_SYNC_UNSYNC, .pages = 0, .audit = false, \
			      .prefetch = 8, .no_large = false, .patch = false }

extern const struct vm_mode shadow_mode;

#endif
