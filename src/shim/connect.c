/*
 * connect - a socket never bound gets its local address here; it is
 * matched for the record (core/engine_opts.c). A client connection is no
 * decision and its options are left alone: unless a line may be written
 * about it, the record only says SOCK_BOUND_LATE (no identity check, no
 * getsockname), and the match is made by the next call that needs the
 * record (shim/host.h), if any.
 */
#include "shim/host.h"

/* May engine_connected write a line (log level all, here or in a rule)? */
static inline bool connect_logs(void)
{
	return reuse_cfg.level != REUSE_LOG_OFF &&
	       (reuse_cfg.level >= REUSE_LOG_ALL || reuse_cfg.rule_logs_all);
}

REUSE_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct reuse_call c;
	struct reuse_sock *k;
	int ret = real_connect(fd, addr, len), saved = errno;

	if (!reuse_ready())
		goto out;
	/* only an unbound socket whose rule is not chosen has anything to do */
	k = sock_peek_mut(fd);
	if (!k || k->rule != SOCK_UNDECIDED || k->bound)
		goto out;
	if (!connect_logs()) {
		if (ret == 0 || saved == EINPROGRESS)
			k->bound = SOCK_BOUND_LATE;
	} else if (shim_call(&c, fd, false)) {
		engine_connected(&c, ret, saved);
	}
out:
	errno = saved;
	return ret;
}
