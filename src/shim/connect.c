/*
 * connect - a socket never bound gets its local address here; it is
 * matched for the record and the log (apply_connect).
 */
#include "shim/real.h"

REUSE_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!reuse_ready())
		return real_connect(fd, addr, len);
	return apply_connect(fd, addr, len);
}
