/*
 * ombra compare: the same kernel in tdp mode and in shadow mode (one
 * column per coherence strategy with --shadow-sync=all), one table of
 * counters side by side, and the verdict on what the guest saw.
 */
#ifndef OMBRA_COMPARE_H
#define OMBRA_COMPARE_H

#include <stdbool.h>
#include <stdio.h>

#include "vmm/vm.h"

struct compare_opts {
	bool all_syncs;   /* --shadow-sync=all */
	bool json;        /* --json */
	bool nonzero;     /* --nonzero: the text table leaves out rows all zero */
};

/* Run, print, and return the exit status: 0 when the guest saw the same
 * machine in every column (OMBRA_EXIT_DIFFER when not).  cfg->mode_opts
 * are shadow mode's options (struct shadow_opts, shadow/mode.h; NULL: its
 * defaults), for every shadow column; the tdp column gets none. */
int compare_run(const struct vm_config *cfg, const struct compare_opts *opts, FILE *out);

/* ombra compare --merge FILE...: the table and verdict over the columns of
 * compare --json outputs (from several hosts); a file that is not one is a
 * one-line message on err and OMBRA_EXIT_BAD_INPUT. */
int compare_merge(char *const files[], int nfiles, bool json, bool nonzero, FILE *out, FILE *err);

#endif
