/*
 * connect - a socket never bound gets its local address here; it is
 * matched for the record (core/engine_opts.c).
 */
#include "shim/host.h"

REUSE_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct reuse_call c;
	int ret = real_connect(fd, addr, len), saved = errno;

	if (reuse_ready() && shim_call(&c, fd, false)) {
		engine_connected(&c, ret, saved);
		errno = saved;
	}
	return ret;
}
