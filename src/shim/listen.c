/*
 * listen - the kernel re-checks the port here, and SO_REUSEPORT cleared
 * after it is too late; the policy acts again (core/engine_listen.c).
 * The common case, a socket the engine decided at bind() with nothing to
 * re-assert or log (engine_listen_plain), is the program's own call: its
 * record is read but the fd's identity not checked (no fstat), as nothing
 * acts on the socket. A record gone stale (the fd closed behind us and
 * reused) only says "listening" until the next call that acts finds it
 * stale. The rest is out of line, so the common case stays small.
 */
#include "shim/host.h"

static __attribute__((noinline)) int listen_full(int fd, int backlog)
{
	struct reuse_call c;
	int ret;

	if (!shim_call(&c, fd, true))
		return real_listen(fd, backlog);
	ret = engine_listen(&c, backlog);
	return ret == REUSE_PASS ? real_listen(fd, backlog) : ret;
}

/* The plain listen() failed: explained and logged once the fd is known
 * to be the record's socket. */
static __attribute__((noinline)) int listen_failed(int fd, const struct reuse_sock *k,
						   int ret, int err)
{
	struct reuse_call c;

	if (shim_call(&c, fd, false) && c.k == k)
		return engine_listen_failed(&c, ret, err);
	errno = err;
	return ret;
}

REUSE_EXPORT int listen(int fd, int backlog)
{
	struct reuse_sock *k;
	int ret, saved;

	if (!reuse_ready() || !(k = sock_peek_mut(fd)) || !engine_listen_plain(k))
		return listen_full(fd, backlog);
	saved = errno;
	ret = real_listen(fd, backlog);
	if (ret < 0)
		return listen_failed(fd, k, ret, errno);
	k->listening = 1;
	errno = saved;
	return 0;
}
