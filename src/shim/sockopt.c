/*
 * setsockopt, getsockopt - only SOL_SOCKET SO_REUSEADDR/SO_REUSEPORT are
 * ours; every other option goes straight to the kernel with no lookup
 * (core/engine_opts.c decides for ours).
 *
 * Before a socket's rule is chosen both calls are the program's own: the
 * record is read but the fd's identity not checked (no fstat). A value
 * set is noted in the record, so bind() need not read the kernel
 * (`known`, core/core.h); a record gone stale is found so by bind()'s
 * identity check, which then learns the socket afresh.
 */
#include "shim/host.h"

static inline bool ours(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT);
}

/* The record of a socket whose rule is not chosen yet and that is not
 * known bound (a bound one is decided on first sight), or NULL. */
static inline struct reuse_sock *undecided(int fd)
{
	struct reuse_sock *k = sock_peek_mut(fd);

	return k && k->rule == SOCK_UNDECIDED && !k->bound ? k : NULL;
}

static __attribute__((noinline)) int setsockopt_full(int fd, int level, int name,
							const void *val, socklen_t len)
{
	struct reuse_call c;
	int ret;

	if (!shim_call(&c, fd, true))
		return real_setsockopt(fd, level, name, val, len);
	ret = engine_setsockopt(&c, level, name, (uintptr_t)val, len);
	return ret == REUSE_PASS ? real_setsockopt(fd, level, name, val, len) : ret;
}

REUSE_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			    socklen_t len)
{
	struct reuse_sock *k;
	int ret;

	if (!ours(level, name) || !reuse_ready())
		return real_setsockopt(fd, level, name, val, len);
	if (!(k = undecided(fd)))
		return setsockopt_full(fd, level, name, val, len);
	ret = real_setsockopt(fd, level, name, val, len);
	/* the kernel read an int there (it refuses a shorter value) */
	if (ret == 0 && val && len >= (socklen_t)sizeof(int))
		*(name == SO_REUSEPORT ? &k->asked_rp : &k->asked_ra) = *(const int *)val != 0;
	return ret;
}

REUSE_EXPORT int getsockopt(int fd, int level, int name, void *val,
			    socklen_t *len)
{
	struct reuse_call c;
	int ret;

	/* a socket met here first (accepted, passed) is learned: its view may
	 * be a listener's (engine_getsockopt) */
	if (!ours(level, name) || !reuse_ready() || undecided(fd) ||
	    !shim_call(&c, fd, true))
		return real_getsockopt(fd, level, name, val, len);
	ret = engine_getsockopt(&c, level, name, (uintptr_t)val, (uintptr_t)len);
	return ret == REUSE_PASS ? real_getsockopt(fd, level, name, val, len) : ret;
}
