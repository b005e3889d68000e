/*
 * drain.c - the library's walk for core/engine_drain.c: before an
 * exclusive TCP listener closes, each of this process's connections on its
 * port gives up the SO_REUSEADDR it inherited (engine_drain_take) and is
 * marked WATCH_RA_BACK, so that its own close() gives it back
 * (engine_drain_back).
 *
 * A walk of /proc/self/fd with getdents64 on a stack buffer (no
 * allocation), only when an exclusive listener closes.
 */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>

#include "shim/host.h"

struct dent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* drain_listener_closing - the exclusive listener `self` on port closes. */
void drain_listener_closing(int self, uint16_t port)
{
	union { struct dent64 align; char b[2048]; } buf;
	int dfd = (int)sys_raw(SYS_openat, AT_FDCWD, (long)"/proc/self/fd",
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	long r;

	if (dfd < 0)
		return;
	while ((r = sys_raw(SYS_getdents64, dfd, (long)buf.b, sizeof buf.b, 0, 0, 0)) > 0) {
		for (long off = 0; off < r;) {
			struct dent64 *d = (struct dent64 *)(buf.b + off);
			int fd = 0;

			off += d->d_reclen;
			for (const char *p = d->d_name; *p >= '0' && *p <= '9'; p++)
				fd = fd * 10 + (*p - '0');
			if (d->d_name[0] < '0' || d->d_name[0] > '9' || fd == dfd || fd == self ||
			    (unsigned)fd >= SOCK_WATCH_MAX || fd_is_ours(fd) ||
			    !engine_drain_take(fd, port))
				continue;
			sock_watch_set(fd, WATCH_RA_BACK);
		}
	}
	sys_close(dfd);
}

/* drain_before_close - fd's connection gets its SO_REUSEADDR back now. */
void drain_before_close(int fd)
{
	sock_watch_clear(fd, WATCH_RA_BACK);
	engine_drain_back(fd);
}
