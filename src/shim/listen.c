/*
 * listen - the kernel re-checks the port here, and SO_REUSEPORT cleared
 * after it is too late; the policy acts again (core/engine_listen.c).
 * The common case, a socket the engine decided at bind() with nothing to
 * re-assert or log, is the program's own call: its record is read but
 * the fd's identity not checked (no fstat), as nothing acts on the socket.
 * A record gone stale (the fd closed behind us and reused) only says
 * "listening" until the next call that acts finds it stale.
 */
#include "shim/host.h"

REUSE_EXPORT int listen(int fd, int backlog)
{
	struct reuse_call c;
	struct reuse_sock *k;
	int ret, saved = errno;

	if (!reuse_ready())
		return real_listen(fd, backlog);
	if ((k = sock_peek_mut(fd)) && engine_listen_plain(k)) {
		ret = real_listen(fd, backlog);
		if (ret == 0) {
			k->listening = 1;
			errno = saved;
			return 0;
		}
		saved = errno;
		if (shim_call(&c, fd, false) && c.k == k)
			return engine_listen_failed(&c, ret, saved);
		errno = saved;
		return ret;
	}
	if (!shim_call(&c, fd, true))
		return real_listen(fd, backlog);
	ret = engine_listen(&c, backlog);
	return ret == REUSE_PASS ? real_listen(fd, backlog) : ret;
}
