/*
 * bind - the first moment a socket's local address is known: the policy
 * decides here (apply_bind).
 */
#include "shim/real.h"

REUSE_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!reuse_ready())
		return real_bind(fd, addr, len);
	return apply_bind(fd, addr, len);
}
