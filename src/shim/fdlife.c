/*
 * fdlife.c - close, dup, dup2, dup3, fcntl(F_DUPFD*), close_range,
 * closefrom: keep the per-fd records true to the fd table, and keep the
 * shim's own fds (the log) out of the program's way.
 *
 * close() of an fd we do not track costs a couple of loads (sock_watched):
 * no call, no lock, no system call beyond the real close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <stdlib.h>

#include "shim/host.h"

/*
 * before_close - fd is about to be closed (close, dup2/dup3 onto it,
 * close_range): a connection that gave up SO_REUSEADDR gets it back; an
 * exclusive TCP listener first takes it from the connections it left
 * (core/engine_drain.c, drain.c), each of which gets it back as it closes.
 */
static void before_close(int fd)
{
	const struct reuse_sock *k = sock_peek(fd);
	uint16_t port;

	if ((unsigned)fd < SOCK_WATCH_MAX &&
	    (__atomic_load_n(&reuse_watch[fd], __ATOMIC_RELAXED) & WATCH_RA_BACK))
		drain_before_close(fd);
	if (engine_drains(k) && sock_get(fd) == k && reuse_ready()) {
		int saved = errno;
		if ((port = eng_local_port(fd)))
			drain_listener_closing(fd, port);
		errno = saved;
	}
}

/* close_tracked - forget fd's record and close it. */
static int close_tracked(int fd)
{
	struct reuse_sock *k;

	before_close(fd);
	if ((k = sock_peek_mut(fd)))
		sock_forget_rec(fd, k);
	else
		sock_forget(fd);          /* a watch bit left over */
	return real_close(fd);
}

/* close of a watched fd: ours answer EBADF; a tracked one is forgotten. */
static __attribute__((noinline)) int close_watched(int fd)
{
	/* only a number marked WATCH_OURS (or past the map) can be ours */
	if (((unsigned)fd >= SOCK_WATCH_MAX ||
	     (__atomic_load_n(&reuse_watch[fd], __ATOMIC_RELAXED) & WATCH_OURS)) &&
	    fd_is_ours(fd)) {
		errno = EBADF;
		return -1;
	}
	return close_tracked(fd);
}

/* The next close(), once known; until then close_first finds it. */
static int close_first(int fd);
static int (*close_next)(int) = close_first;

static int close_first(int fd)
{
	int (*f)(int) = REAL(close);

	if (!f)
		return sys_close(fd);
	__atomic_store_n(&close_next, f, __ATOMIC_RELAXED);
	return f(fd);
}

/*
 * close - our own fds answer EBADF, as if they were not there: a program
 * closing everything at start-up must not close the log under us. An fd
 * the watch map does not mark goes straight on: a compare, a load, a jump.
 */
REUSE_EXPORT int close(int fd)
{
	if (__builtin_expect(sock_watched(fd), 0))
		return close_watched(fd);
	return __atomic_load_n(&close_next, __ATOMIC_RELAXED)(fd);
}

/* The program duplicated oldfd as ret: the copy inherits its record. */
static int after_dup(int oldfd, int ret)
{
	int saved = errno;

	if (ret >= 0)
		sock_dup(oldfd, ret);
	errno = saved;
	return ret;
}

REUSE_EXPORT int dup(int fd)
{
	int (*f)(int) = REAL(dup);

	return after_dup(fd, f ? f(fd) : (int)syscall(SYS_dup, fd));
}

/* dup2/dup3 onto one of our numbers: ours steps aside first; onto a
 * tracked socket, it is closed as close() would. */
REUSE_EXPORT int dup2(int oldfd, int newfd)
{
	int (*f)(int, int) = REAL(dup2);

	if (oldfd != newfd && fd_is_ours(newfd))
		fd_evacuate(newfd);
	else if (oldfd != newfd && newfd >= 0 && sock_watched(newfd))
		before_close(newfd);
	return after_dup(oldfd, f ? f(oldfd, newfd)
				  : (int)syscall(SYS_dup3, oldfd, newfd, 0));
}

REUSE_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int (*f)(int, int, int) = REAL(dup3);

	if (oldfd != newfd && fd_is_ours(newfd))
		fd_evacuate(newfd);
	else if (oldfd != newfd && newfd >= 0 && sock_watched(newfd))
		before_close(newfd);
	return after_dup(oldfd, f ? f(oldfd, newfd, flags)
				  : sys_dup3(oldfd, newfd, flags));
}

/*
 * fcntl - only F_DUPFD and F_DUPFD_CLOEXEC concern us. The argument is
 * fetched as a pointer-sized value, as libc itself does, and passed on.
 */
static int fcntl_common(int (*f)(int, int, ...), int fd, int cmd, void *arg)
{
	int ret = f ? f(fd, cmd, arg) : (int)syscall(SYS_fcntl, fd, cmd, arg);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return after_dup(fd, ret);
	return ret;
}

REUSE_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

REUSE_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

static int range_call(unsigned lo, unsigned hi, int flags)
{
	int (*f)(unsigned, unsigned, int) = REAL(close_range);

	return f ? f(lo, hi, flags) : (int)syscall(SYS_close_range, lo, hi, flags);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * close_range - close the program's fds in [first, last] but not ours:
 * the range is cut into pieces around them. CLOSE_RANGE_CLOEXEC closes
 * nothing (ours are close-on-exec already) and goes through whole.
 */
static int close_range_ours(unsigned first, unsigned last, int flags)
{
	int mine[8], n = 0, ret = 0, err = 0;
	unsigned lo = first;

	if ((flags & CLOSE_RANGE_CLOEXEC) || first > last)
		return range_call(first, last, flags);
	n = fd_ours_in(first, last, mine, 8);
	qsort(mine, (size_t)n, sizeof *mine, cmp_int);
	/* the watch map marks every fd close() would look at */
	for (unsigned fd = first; fd <= last && fd < SOCK_WATCH_MAX; fd++)
		if (__atomic_load_n(&reuse_watch[fd], __ATOMIC_RELAXED) & (WATCH_SOCK | WATCH_RA_BACK))
			before_close((int)fd);
	sock_forget_range(first, last);
	for (int i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)mine[i] - 1 : last;
		if (i < n && (unsigned)mine[i] == lo) {
			lo++;
			continue;
		}
		if (lo <= hi && range_call(lo, hi, flags) < 0 && !err) {
			ret = -1;
			err = errno;
		}
		flags &= ~CLOSE_RANGE_UNSHARE;   /* unshared once is enough */
		if (i < n)
			lo = (unsigned)mine[i] + 1;
	}
	if (ret < 0)
		errno = err;
	return ret;
}

REUSE_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	return close_range_ours(first, last, flags);
}

/* closefrom - glibc's own calls close_range internally, past our wrapper;
 * ours calls its body directly (by its exported name it would be one more
 * symbol for ld.so to bind at every start, issue 16). */
REUSE_EXPORT void closefrom(int lowfd)
{
	void (*f)(int) = REAL(closefrom);
	int saved = errno;

	if (lowfd < 0)
		lowfd = 0;
	if (close_range_ours((unsigned)lowfd, ~0u, 0) == 0) {
		errno = saved;
		return;
	}
	errno = saved;
	if (f)
		f(lowfd);
}
