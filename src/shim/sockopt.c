/*
 * setsockopt, getsockopt - only SOL_SOCKET SO_REUSEADDR/SO_REUSEPORT are
 * ours; every other option goes straight to the kernel with no lookup
 * (core/engine_opts.c decides for ours).
 */
#include "shim/host.h"

static inline bool ours(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT);
}

REUSE_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			    socklen_t len)
{
	struct reuse_call c;
	int ret;

	if (!ours(level, name) || !reuse_ready() || !shim_call(&c, fd, true))
		return real_setsockopt(fd, level, name, val, len);
	ret = engine_setsockopt(&c, level, name, (uintptr_t)val, len);
	return ret == REUSE_PASS ? real_setsockopt(fd, level, name, val, len) : ret;
}

REUSE_EXPORT int getsockopt(int fd, int level, int name, void *val,
			    socklen_t *len)
{
	struct reuse_call c;
	int ret;

	/* a socket met here first (accepted, passed) is learned: its view may
	 * be a listener's (engine_getsockopt) */
	if (!ours(level, name) || !reuse_ready() || !shim_call(&c, fd, true))
		return real_getsockopt(fd, level, name, val, len);
	ret = engine_getsockopt(&c, level, name, (uintptr_t)val, (uintptr_t)len);
	return ret == REUSE_PASS ? real_getsockopt(fd, level, name, val, len) : ret;
}
