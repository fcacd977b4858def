/*
 * An output file written whole or not at all: the bytes go to a temporary
 * file beside it, made with an unpredictable name by mkstemp (O_EXCL, so
 * no symlink or file planted under that name is followed or reused), and
 * renamed over the target only once everything is written.  Used for
 * --stats-file and ombra report's -o.
 */
#ifndef OMBRA_OUTFILE_H
#define OMBRA_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

struct outfile {
	FILE *f;                   /* write here */
	int dirfd;                 /* the target's folder (renameat, unlinkat: the seccomp filter
				    * lets a run rename and unlink only in folders opened before it) */
	char tmp[4096];            /* the temporary file's name */
	const char *tmp_base;      /* ... within dirfd */
};

/* Make the temporary file for path (mode 0666 less the umask, as fopen
 * would).  0, or -errno. */
int outfile_open(struct outfile *o, const char *path);
/* Close and rename it to path.  0, or -errno (the temporary file gone). */
int outfile_commit(struct outfile *o, const char *path);
/* Close and remove it: path is left as it was. */
void outfile_drop(struct outfile *o);

#endif
