/*
 * Confinement after set-up: a seccomp filter that lets through only the
 * system calls ombra's run loop and its end-of-run reporting make.
 */
#ifndef OMBRA_CONFINE_H
#define OMBRA_CONFINE_H

#include <stddef.h>

/* Install the filter on the calling thread (and what it starts).  Every
 * other system call then fails with EPERM.  0, or -errno with a message. */
int confine_install(char *err, size_t errlen);

#endif
