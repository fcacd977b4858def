/*
 * Confinement after set-up: a seccomp filter that lets through only the
 * system calls ombra's run loop and its end-of-run reporting make, with
 * the arguments they make them with (docs/security.md lists them).
 */
#ifndef OMBRA_CONFINE_H
#define OMBRA_CONFINE_H

#include <stddef.h>

#define CONFINE_MAX_FDS 8

/* The descriptors opened before the filter that the run goes on using. */
struct confine_fds {
	int ioctl[CONFINE_MAX_FDS];  /* KVM's: /dev/kvm, the VM, the vCPU */
	unsigned nioctl;
	int dirs[CONFINE_MAX_FDS];   /* folders renamed or unlinked in (renameat, unlinkat) */
	unsigned ndirs;
	int accept[CONFINE_MAX_FDS]; /* listening sockets accepted on (accept4): the gdbstub's */
	unsigned naccept;
};

/* Add fd to a list (ignored when negative or the list is full). */
void confine_add(int *list, unsigned *n, int fd);

/* Install the filter on the calling thread (and what it starts).  Every
 * other system call, and these with other arguments, then fails with
 * EPERM.  0, or -errno with a message. */
int confine_install(const struct confine_fds *fds, char *err, size_t errlen);

#endif
