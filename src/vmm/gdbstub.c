/*
 * The gdbstub's socket and its place in the run (gdbstub.h, docs/gdb.md).
 *
 * One connection at a time, all-stop, one thread (the vCPU).  A stop
 * (a breakpoint, a step, gdb's Ctrl-C, -S, a new connection) runs
 * vm_debug_stop: gdb's packets are answered from the stopped guest
 * through the mode's debug hooks until gdb continues, steps, detaches
 * or kills; then the mode resumes the guest (tdp: KVM_SET_GUEST_DEBUG;
 * shadow: its own INT3 and TF under the monitor).
 */
#include "gdbstub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gdbproto.h"
#include "vm.h"

struct gdbstub {
	int lfd;                     /* listening */
	int fd;                      /* gdb's connection, -1 when none */
	bool running;                /* gdb waits for a stop reply (after c or s) */
	struct gdb_rx rx;
	struct gdb_session s;
	char reply[2 * GDB_PACKET_MAX + 16];
	char out[2 * GDB_PACKET_MAX + 32];
};

int gdbstub_parse(const char *spec, uint32_t *addr, uint16_t *port, char *why, size_t len)
{
	const char *host, *colon;
	char hbuf[64], *end;
	unsigned long p;
	struct in_addr in;

	if (strncmp(spec, "tcp:", 4) != 0) {
		snprintf(why, len, "-gdb: ombra listens on TCP only: tcp::PORT or tcp:HOST:PORT, not '%s'", spec);
		return -EINVAL;
	}
	host = spec + 4;
	colon = strrchr(host, ':');
	if (!colon || (size_t)(colon - host) >= sizeof(hbuf)) {
		snprintf(why, len, "-gdb: tcp::PORT or tcp:HOST:PORT, not '%s'", spec);
		return -EINVAL;
	}
	memcpy(hbuf, host, (size_t)(colon - host));
	hbuf[colon - host] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p == 0 || p > 65535) {
		snprintf(why, len, "-gdb: '%s' is not a TCP port (1-65535)", colon + 1);
		return -EINVAL;
	}
	if (!hbuf[0] || strcmp(hbuf, "localhost") == 0)
		in.s_addr = htonl(INADDR_LOOPBACK);   /* docs/gdb.md: loopback unless told */
	else if (inet_pton(AF_INET, hbuf, &in) != 1) {
		snprintf(why, len, "-gdb: '%s' is not a numeric IPv4 address (or localhost)", hbuf);
		return -EINVAL;
	}
	*addr = in.s_addr;
	*port = (uint16_t)p;
	return 0;
}

/* --- the target: the mode's hooks ---------------------------------------------------- */

static int t_get_regs(void *opaque, struct gdb_regs *r)
{
	struct vm *vm = opaque;

	return vm->mode->debug_regs(vm, r, false);
}

static int t_set_regs(void *opaque, const struct gdb_regs *r)
{
	struct vm *vm = opaque;
	struct gdb_regs copy = *r;

	return vm->mode->debug_regs(vm, &copy, true);
}

static int t_read_mem(void *opaque, uint64_t gva, void *buf, size_t len)
{
	struct vm *vm = opaque;

	return vm->mode->debug_mem(vm, gva, buf, len, false);
}

static int t_write_mem(void *opaque, uint64_t gva, const void *buf, size_t len)
{
	struct vm *vm = opaque;

	return vm->mode->debug_mem(vm, gva, (void *)buf, len, true);
}

/* --- the connection ------------------------------------------------------------------ */

static void send_all(struct gdbstub *g, const char *buf, size_t len)
{
	while (len && g->fd >= 0) {
		ssize_t n = write(g->fd, buf, len);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* '+' (when ack) and the framed reply in one write: no Nagle delay between them. */
static void send_packet(struct gdbstub *g, bool ack, const char *payload, size_t len)
{
	size_t n = 0;

	if (ack)
		g->out[n++] = '+';
	n += gdb_frame(payload, len, g->out + n, sizeof(g->out) - n);
	send_all(g, g->out, n);
}

static void set_blocking(int fd, bool blocking)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK));
}

/* SIGIO for fd to this process, and no blocking outside a stop. */
static void async_io(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETOWN, getpid());
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_ASYNC | O_NONBLOCK);
}

static void hang_up(struct vm *vm)
{
	struct gdbstub *g = vm->gdb;

	gdb_remove_breakpoints(&g->s);
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	g->running = false;
	vm->mode->debug_resume(vm, false, false);
}

static void connected(struct vm *vm, int fd)
{
	struct gdbstub *g = vm->gdb;
	struct gdb_target t = { vm, t_get_regs, t_set_regs, t_read_mem, t_write_mem, vm->mode->debug_hw_max };

	g->fd = fd;
	g->running = false;
	gdb_rx_init(&g->rx);
	gdb_session_init(&g->s, &t);
	async_io(fd);
	vm->mode->debug_resume(vm, true, false);
}

int gdbstub_open(struct vm *vm, const char *spec, bool wait)
{
	struct sockaddr_in sa;
	struct gdbstub *g;
	char why[256], where[INET_ADDRSTRLEN];
	uint32_t addr;
	uint16_t port;
	int one = 1, r;

	r = gdbstub_parse(spec, &addr, &port, why, sizeof(why));
	if (r < 0)
		return vm_fail(vm, OMBRA_EXIT_USAGE, r, "%s", why);
	g = calloc(1, sizeof(*g));
	if (!g)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -ENOMEM, "no memory for the gdbstub");
	g->fd = -1;
	vm->gdb = g;
	signal(SIGIO, SIG_IGN);              /* the run loop catches it (vm.c) */
	g->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g->lfd < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "-gdb: socket: %s", strerror(errno));
	setsockopt(g->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(g->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* inherited by accept */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = addr;
	inet_ntop(AF_INET, &sa.sin_addr, where, sizeof(where));
	if (bind(g->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(g->lfd, 1) < 0)
		return vm_fail(vm, OMBRA_EXIT_HOST_ERROR, -errno, "-gdb: cannot listen on %s:%u: %s", where, port,
			       strerror(errno));
	if (wait) {
		int fd;

		fprintf(vm->log, "ombra: waiting for gdb on %s:%u (-S)\n", where, port);
		fflush(vm->log);
		do
			fd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC);
		while (fd < 0 && errno == EINTR && !vm_stop_requested());
		if (fd < 0)
			return vm_fail(vm, OMBRA_EXIT_INTERRUPTED, -errno, "-gdb: no connection from gdb: %s",
				       strerror(errno));
		connected(vm, fd);
	}
	async_io(g->lfd);
	return 0;
}

int gdbstub_listen_fd(const struct vm *vm)
{
	return vm->gdb ? vm->gdb->lfd : -1;
}

bool vm_debug_breakpoint(const struct vm *vm, uint64_t gva)
{
	return vm->gdb && vm->gdb->fd >= 0 && gdb_breakpoint_at(&vm->gdb->s, gva);
}

unsigned vm_debug_hw_breakpoints(const struct vm *vm, uint64_t out[4])
{
	if (!vm->gdb || vm->gdb->fd < 0)
		return 0;
	return gdb_hw_breakpoints(&vm->gdb->s, out);
}

void gdbstub_poll(struct vm *vm)
{
	struct gdbstub *g = vm->gdb;
	uint8_t buf[256];
	ssize_t n;

	if (!g)
		return;
	if (g->fd < 0) {
		int fd = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			return;
		connected(vm, fd);
		/* gdb's first question is why the target stopped: stop it. */
		vm->mode->debug_break(vm, 5);
		return;
	}
	if (!g->running)
		return;                      /* a stop is on its way: its loop reads */
	while ((n = read(g->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (gdb_rx_byte(&g->rx, buf[i]) == GDB_RX_INTERRUPT) {
				vm->mode->debug_break(vm, 2);
				return;
			}
	if (n == 0)
		hang_up(vm);                 /* gdb went away: the guest runs on */
}

void vm_debug_stop(struct vm *vm, int sig)
{
	struct gdbstub *g = vm->gdb;
	size_t rlen;

	if (!g || g->fd < 0)
		return;
	if (g->running) {
		rlen = gdb_stop_reply(&g->s, sig, g->reply, sizeof(g->reply));
		send_packet(g, false, g->reply, rlen);
		g->running = false;
	} else {
		g->s.last_signal = sig;
	}
	set_blocking(g->fd, true);
	for (;;) {
		uint8_t buf[512];
		ssize_t n = read(g->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR) {
			/* SIGIO from gdb's own bytes, a timer tick, or SIGINT
			 * or SIGTERM to end the run (which ends gdb's session) */
			if (vm_stop_signal() == SIGINT || vm_stop_signal() == SIGTERM) {
				hang_up(vm);
				return;
			}
			continue;
		}
		if (n <= 0) {
			hang_up(vm);                 /* gdb went away: the guest runs on */
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			enum gdb_action a;

			switch (gdb_rx_byte(&g->rx, buf[i])) {
			case GDB_RX_BAD:
				send_all(g, "-", 1);
				continue;
			case GDB_RX_PACKET:
				break;
			default:
				continue;            /* acks, and Ctrl-C while stopped */
			}
			a = gdb_handle(&g->s, g->rx.buf, g->rx.len, g->reply, sizeof(g->reply), &rlen);
			switch (a) {
			case GDB_STAY:
				send_packet(g, true, g->reply, rlen);
				break;
			case GDB_CONTINUE:
			case GDB_STEP:
				send_all(g, "+", 1);
				g->running = true;
				set_blocking(g->fd, false);
				vm->mode->debug_resume(vm, true, a == GDB_STEP);
				return;
			case GDB_DETACH:
				send_packet(g, true, g->reply, rlen);
				hang_up(vm);
				return;
			case GDB_KILL:
				send_all(g, "+", 1);
				hang_up(vm);
				vm_end(vm, END_INTERRUPTED, OMBRA_EXIT_INTERRUPTED, "killed by gdb");
				return;
			}
		}
	}
}

void gdbstub_close(struct vm *vm)
{
	struct gdbstub *g = vm->gdb;

	if (!g)
		return;
	if (g->fd >= 0 && g->running && vm->end != END_NONE) {
		char msg[8];
		size_t n;

		/* How the run ended: the guest's own exit status (W), or ended
		 * by something else (X, SIGKILL). */
		if (vm->end == END_DEBUG_EXIT || vm->end == END_SHUTDOWN)
			n = (size_t)snprintf(msg, sizeof(msg), "W%02x", vm->exit_status & 0xff);
		else
			n = (size_t)snprintf(msg, sizeof(msg), "X09");
		send_packet(g, false, msg, n);
	}
	if (g->fd >= 0)
		close(g->fd);
	if (g->lfd >= 0)
		close(g->lfd);
	free(g);
	vm->gdb = NULL;
}
