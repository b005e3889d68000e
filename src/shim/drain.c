/*
 * drain.c - an exclusive TCP listener closed while connections it accepted
 * still live. Those connections inherited the listener's SO_REUSEADDR
 * (engine_listen.c gives it to an exclusive listener, so that the TIME_WAIT
 * entries its connections leave let the next exclusive run bind). With no
 * listener on the port, that option on the remaining connections lets
 * anyone with SO_REUSEADDR bind beside them and listen: without libreuse
 * they would hold the port. So the option is taken from them when the
 * listener closes, and each gets it back just before its own close(), the
 * moment its TIME_WAIT entry is made.
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

/* A TCP connection of this process on local port `port` (host order). */
static bool connection_on(int fd, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int type = 0, proto = 0;
	socklen_t tl = sizeof type, pl = sizeof proto;

	if (sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
	    sys_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) < 0 ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP) ||
	    sys_getsockname(fd, (struct sockaddr *)&ss, &l) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return false;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port) == port &&
	       sys_getflag(fd, SO_ACCEPTCONN) == 0;
}

/* drain_listener_closed - the exclusive listener on port is gone. */
void drain_listener_closed(uint16_t port)
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
			if (d->d_name[0] < '0' || d->d_name[0] > '9' || fd == dfd ||
			    (unsigned)fd >= SOCK_WATCH_MAX || fd_is_ours(fd) ||
			    !connection_on(fd, port) || sys_getflag(fd, SO_REUSEADDR) != 1)
				continue;
			sys_setflag(fd, SO_REUSEADDR, 0);
			sock_watch_set(fd, WATCH_RA_BACK);
		}
	}
	sys_close(dfd);
}

/* drain_before_close - fd's connection gets its SO_REUSEADDR back now, so
 * its TIME_WAIT entry carries it. */
void drain_before_close(int fd)
{
	int saved = errno;

	sock_watch_clear(fd, WATCH_RA_BACK);
	sys_setflag(fd, SO_REUSEADDR, 1);
	errno = saved;
}
