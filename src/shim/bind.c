/*
 * bind - the first moment a socket's local address is known: the policy
 * decides here (core/engine_bind.c).
 */
#include "shim/host.h"

REUSE_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct reuse_call c;
	int ret;

	if (!reuse_ready() || !shim_call(&c, fd, true))
		return real_bind(fd, addr, len);
	ret = engine_bind(&c, (uintptr_t)addr, len);
	return ret == REUSE_PASS ? real_bind(fd, addr, len) : ret;
}
