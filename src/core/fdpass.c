/*
 * fdpass.c - a message and at most one fd over a Unix socket (SCM_RIGHTS),
 * for handoff between instances and for the seccomp listener's way from
 * the child to the supervisor.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/core.h"
#include "core/sys.h"

union fd_cmsg {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

/* fd_send - len bytes of data and, when fd >= 0, fd: 0, or -1 when not
 * all was sent. */
int fd_send(int sock, const void *data, size_t len, int fd)
{
	union fd_cmsg u;
	struct iovec iov = { (void *)data, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		m.msg_control = u.buf;
		m.msg_controllen = sizeof u.buf;
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	}
	return sys_sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* fd_recv - up to len bytes into data (recvmsg flags added to
 * MSG_CMSG_CLOEXEC) and at most one fd into *fd (-1: none). Returns what
 * recvmsg() returned. */
ssize_t fd_recv(int sock, void *data, size_t len, int *fd, int flags)
{
	union fd_cmsg u;
	struct iovec iov = { data, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | flags);

	*fd = -1;
	if (n < 0)
		return n;
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(cm), sizeof *fd);
	return n;
}
