/*
 * The gdbstub (-gdb tcp::PORT, -s, -S; docs/gdb.md): the socket and the
 * run loop's part.  The protocol itself is gdbproto.c; what a stop reads
 * and writes (registers, guest-virtual memory) and how the guest is
 * stopped and stepped are the mode's debug hooks (struct vm_mode).
 *
 * The listening socket is made at set-up, before the seccomp filter; with
 * -S ombra waits there for gdb before the guest's first instruction.
 * Without it the guest runs, and a connection (or gdb's Ctrl-C on one)
 * raises SIGIO, which stops KVM_RUN; the filter allows accept4 on that
 * one descriptor only (docs/security.md).  With no -gdb nothing here
 * runs, and the run loop's only cost is a test of vm->gdb after an EINTR.
 */
#ifndef OMBRA_GDBSTUB_H
#define OMBRA_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* -gdb's argument: tcp::PORT (127.0.0.1), tcp:HOST:PORT (a numeric IPv4
 * address or localhost); 0, or -EINVAL with why. */
int gdbstub_parse(const char *spec, uint32_t *addr, uint16_t *port, char *why, size_t len);

/* Listen (and with wait, -S, accept gdb's connection) for vm; 0 or
 * -errno with vm_fail() saying why. */
int gdbstub_open(struct vm *vm, const char *spec, bool wait);
/* The listening socket, for the seccomp filter's accept4; -1 when none. */
int gdbstub_listen_fd(const struct vm *vm);
/* SIGIO: a connection to accept, or bytes from gdb (its Ctrl-C) while
 * the guest runs. */
void gdbstub_poll(struct vm *vm);
/* The guest is stopped for gdb with signal sig (5 SIGTRAP, 2 SIGINT):
 * answer gdb until it continues, steps, detaches or kills.  The mode's
 * hooks call it from where the guest is stopped. */
void vm_debug_stop(struct vm *vm, int sig);
/* A breakpoint of gdb's at guest-virtual gva (the guest's INT3 there is
 * gdb's, not the guest's own). */
bool vm_debug_breakpoint(const struct vm *vm, uint64_t gva);
/* gdb's hardware breakpoints (Z1), for the mode's debug registers at
 * each resume; how many (at most vm_mode.debug_hw_max). */
unsigned vm_debug_hw_breakpoints(const struct vm *vm, uint64_t out[4]);
/* The run is over: gdb hears how (W or X), then the sockets close. */
void gdbstub_close(struct vm *vm);

#endif
