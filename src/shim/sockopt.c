/*
 * setsockopt, getsockopt - only SOL_SOCKET SO_REUSEADDR/SO_REUSEPORT are
 * ours; every other option goes straight to the kernel with no lookup.
 */
#include "shim/real.h"

static inline bool ours(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT);
}

REUSE_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			    socklen_t len)
{
	if (!ours(level, name) || !reuse_ready())
		return real_setsockopt(fd, level, name, val, len);
	return apply_setsockopt(fd, level, name, val, len);
}

REUSE_EXPORT int getsockopt(int fd, int level, int name, void *val,
			    socklen_t *len)
{
	if (!ours(level, name) || !reuse_ready())
		return real_getsockopt(fd, level, name, val, len);
	return apply_getsockopt(fd, level, name, val, len);
}
