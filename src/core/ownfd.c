/*
 * ownfd.c - the shim's own long-lived fds (the log, handoff.c's).
 *
 * They live at a high, close-on-exec number so they neither shift the
 * program's fd numbers nor leak into what it executes. A program that
 * closes every fd (daemonizing) is told EBADF for ours, as if they were not
 * there; one that dup2()s onto our number gets it, and ours moves away.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "core/core.h"
#include "core/sys.h"

#define MAX_OURS 8   /* log, handoff listener/request/dup, supervision */

static _Atomic int *_Atomic ours[MAX_OURS];
static atomic_int nours;

/* fd_note_ours - fd is (about to be) ours: close() must look before closing. */
void fd_note_ours(int fd)
{
	sock_watch_set(fd, WATCH_OURS);
}

/* fd_mark_ours - remember a variable holding one of our fds. */
void fd_mark_ours(_Atomic int *slot)
{
	fd_note_ours(atomic_load(slot));
	for (int i = 0; i < MAX_OURS; i++) {
		_Atomic int *none = NULL;
		if (atomic_compare_exchange_strong(&ours[i], &none, slot)) {
			atomic_fetch_add(&nours, 1);
			return;
		}
	}
}

/* fd_is_ours - cheap when we hold nothing; a few loads otherwise. */
bool fd_is_ours(int fd)
{
	int n = atomic_load_explicit(&nours, memory_order_relaxed);

	for (int i = 0; n && i < MAX_OURS; i++) {
		_Atomic int *slot = atomic_load_explicit(&ours[i], memory_order_relaxed);
		if (slot && atomic_load_explicit(slot, memory_order_relaxed) == fd)
			return fd >= 0;
	}
	return false;
}

/* fd_ours_in - our fds within [lo, hi], at most max of them. */
int fd_ours_in(unsigned lo, unsigned hi, int *out, int max)
{
	int n = 0;

	for (int i = 0; i < MAX_OURS && n < max; i++) {
		_Atomic int *slot = atomic_load(&ours[i]);
		int fd = slot ? atomic_load(slot) : -1;
		if (fd >= 0 && (unsigned)fd >= lo && (unsigned)fd <= hi)
			out[n++] = fd;
	}
	return n;
}

/*
 * The lowest number we use: well above what programs use, but below 1024
 * so that no select()-era code and no huge fd table is involved.
 */
static int high_base(void)
{
	struct rlimit rl;
	long base = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1024)
		base = (long)rl.rlim_cur;
	base -= 32;
	return base < 3 ? 3 : (int)base;
}

/* fd_dup_high - a close-on-exec duplicate of fd at a high number, or
 * anywhere when the fd limit leaves no high numbers; -1 and errno. */
int fd_dup_high(int fd)
{
	int nfd = sys_fcntl(fd, F_DUPFD_CLOEXEC, high_base());

	return nfd < 0 ? sys_fcntl(fd, F_DUPFD_CLOEXEC, 3) : nfd;
}

/* fd_move_high - dup fd to a high close-on-exec number, close the old one. */
int fd_move_high(int fd)
{
	int nfd;

	if (fd < 0)
		return fd;
	nfd = fd_dup_high(fd);
	if (nfd < 0) {
		sys_fcntl(fd, F_SETFD, FD_CLOEXEC);
		return fd;
	}
	sys_close(fd);
	return nfd;
}

/* fd_evacuate - the program dup2()s onto one of our numbers: step aside. */
void fd_evacuate(int fd)
{
	int saved = errno;

	for (int i = 0; i < MAX_OURS; i++) {
		_Atomic int *slot = atomic_load(&ours[i]);
		if (slot && atomic_load(slot) == fd) {
			int nfd = sys_fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
			if (nfd < 0)
				nfd = sys_fcntl(fd, F_DUPFD_CLOEXEC, 3);
			fd_note_ours(nfd);
			atomic_store(slot, nfd);
			if (nfd >= 0)
				sys_close(fd);
		}
	}
	errno = saved;
}
