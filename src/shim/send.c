/*
 * sendto, sendmsg, sendmmsg - the first send on an unbound UDP socket
 * binds it implicitly; the engine decides that bind (engine_autobind).
 * Every other send is the data path: one load of the watch map and a
 * branch, then the real call.
 */
#include "shim/host.h"

/* Whether a send on fd may bind it: a UDP socket not known to be bound. */
static inline bool may_bind(int fd)
{
	return __builtin_expect((unsigned)fd >= SOCK_WATCH_MAX ||
				(__atomic_load_n(&reuse_watch[(unsigned)fd], __ATOMIC_RELAXED) &
				 WATCH_UNBOUND), 0);
}

/* The slow path: decide the implicit bind, then clear the hint. */
static __attribute__((noinline)) void before_send(int fd)
{
	struct reuse_call c;
	int saved = errno;

	if (reuse_ready() && shim_call(&c, fd, false)) {
		engine_autobind(&c);
		if (c.k->bound)
			sock_watch_clear(fd, WATCH_UNBOUND);
	} else {
		sock_watch_clear(fd, WATCH_UNBOUND);
	}
	errno = saved;
}

REUSE_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			    const struct sockaddr *dest, socklen_t dlen)
{
	ssize_t (*f)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

	if (may_bind(fd))
		before_send(fd);
	f = REAL(sendto);
	return f ? f(fd, buf, len, flags, dest, dlen)
		 : sys_ret(sys_raw(SYS_sendto, fd, (long)buf, (long)len, flags,
				   (long)dest, dlen));
}

REUSE_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t (*f)(int, const struct msghdr *, int);

	if (may_bind(fd))
		before_send(fd);
	f = REAL(sendmsg);
	return f ? f(fd, msg, flags) : sys_ret(sys_raw(SYS_sendmsg, fd, (long)msg, flags,
						       0, 0, 0));
}

REUSE_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	int (*f)(int, struct mmsghdr *, unsigned int, int);

	if (may_bind(fd))
		before_send(fd);
	f = REAL(sendmmsg);
	return f ? f(fd, vec, n, flags) : (int)sys_ret(sys_raw(SYS_sendmmsg, fd, (long)vec,
							       n, flags, 0, 0));
}
