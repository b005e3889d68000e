/*
 * host.h - the library's side of the engine's host interface (core/host.h):
 * a call on one of the program's fds becomes a struct reuse_call.
 */
#ifndef REUSE_SHIM_HOST_H
#define REUSE_SHIM_HOST_H

#include <errno.h>
#include <stdio.h>

#include "core/host.h"
#include "shim/real.h"

extern const struct engine_host shim_host HIDDEN;

/* drain.c: an exclusive listener's connections when it closes. */
void drain_listener_closing(int self, uint16_t port) HIDDEN;
void drain_before_close(int fd) HIDDEN;

/* host.c: a record SOCK_BOUND_LATE is matched now (engine_connected). */
void shim_bound_late(struct reuse_call *c) HIDDEN;

/* c for a call on fd: the socket's record (made from the kernel's state
 * when create and missing); false when fd is not a socket the engine
 * tracks (the wrapper then makes the real call). */
static inline __attribute__((always_inline)) bool
shim_call(struct reuse_call *c, int fd, bool create)
{
	int saved = errno;

	c->k = create ? sock_get_or_add(fd) : sock_get(fd);
	if (!c->k) {
		errno = saved;
		return false;
	}
	c->host = &shim_host;
	/* the wrapper's frame: copy_in's bound of the stack known mapped */
	c->ctx = __builtin_frame_address(0);
	c->fd = c->sock = fd;
	c->pidfd = -1;
	c->can_call_here = true;
	c->why_not_here = NULL;
	c->euid = -1;
	c->pid = 0;
	c->prog = c->exe = NULL;
	c->entry_errno = saved;
	if (__builtin_expect(c->k->bound == SOCK_BOUND_LATE, 0))
		shim_bound_late(c);
	return true;
}

#endif
