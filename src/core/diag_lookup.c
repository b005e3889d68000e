/*
 * diag_lookup.c - the exact sock_diag lookup of a TCP listener, over one
 * kept NETLINK_SOCK_DIAG socket: what a failed bind() with no log line
 * asks (engine_bind.c), so it must cost little. The dumps are diag.c's.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "core.h"
#include "diag_int.h"
#include "sys.h"

/*
 * The lookup's sock_diag socket, kept: making and closing one costs about
 * as much as the program's own socket() and close() of the failed bind it
 * serves. One of the library's own fds (ownfd.c: high, close-on-exec,
 * EBADF to the program's close()), checked by inode before each use (a raw
 * close could have given its number away), used by one caller at a time
 * (another, or a signal handler that interrupted it, makes its own), and
 * let go in a fork()'s child (explain_fork_child), which must not read the
 * parent's replies. Replies carry the request's sequence number; anything
 * else found queued is skipped.
 */
static _Atomic int lookup_fd = -1;
static _Atomic uint64_t lookup_ino;
static atomic_flag lookup_busy = ATOMIC_FLAG_INIT;
static _Atomic uint32_t lookup_seq;

void explain_fork_child(void)
{
	int fd = atomic_exchange(&lookup_fd, -1);

	if (fd >= 0)
		sys_close(fd);
	atomic_flag_clear(&lookup_busy);
}

/* The kept socket (busy, to be given back with lookup_done), or -1: the
 * caller makes its own. */
static int lookup_take(void)
{
	static atomic_bool marked;
	struct stat st;
	int fd;

	if (atomic_flag_test_and_set(&lookup_busy))
		return -1;
	fd = atomic_load(&lookup_fd);
	if (fd >= 0 && sys_fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    (uint64_t)st.st_ino == atomic_load(&lookup_ino))
		return fd;
	fd = fd_move_high(sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
	if (fd < 0 || sys_fstat(fd, &st) < 0) {
		if (fd >= 0)
			sys_close(fd);
		atomic_flag_clear(&lookup_busy);
		return -1;
	}
	atomic_store(&lookup_ino, (uint64_t)st.st_ino);
	fd_note_ours(fd);
	atomic_store(&lookup_fd, fd);
	if (!atomic_exchange(&marked, true))
		fd_mark_ours(&lookup_fd);
	return fd;
}

/*
 * explain_listener_at - is a TCP listener taking connections to
 * family/addr:port (on that address or its wildcard, or a dual-stack
 * IPv6 wildcard for IPv4)? One exact sock_diag lookup (the kernel's own
 * hash lookup of an incoming connection, no table walk): 1 yes, 0 no,
 * -errno when sock_diag cannot say. The kernel answers before sendto()
 * returns, so the reply is read without waiting.
 */
int explain_listener_at(int family, const uint8_t addr[16], uint16_t port)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} q;
	union {
		struct nlmsghdr align;
		uint8_t b[1024];
	} buf;
	int saved = errno, fd, rc = -EPROTO;
	bool kept;
	uint32_t seq = atomic_fetch_add(&lookup_seq, 1) + 1;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(&q, 0, sizeof q);
	q.nh.nlmsg_len = sizeof q;
	q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nh.nlmsg_flags = NLM_F_REQUEST;
	q.nh.nlmsg_seq = seq;
	q.r.sdiag_family = (uint8_t)family;
	q.r.sdiag_protocol = IPPROTO_TCP;
	q.r.idiag_states = ~0u;
	q.r.id.idiag_sport = htons(port);
	memcpy(q.r.id.idiag_src, addr, family == AF_INET ? 4 : 16);
	q.r.id.idiag_cookie[0] = q.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	kept = (fd = lookup_take()) >= 0;
	if (!kept)
		fd = sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = diag_nl_send(fd, &q, sizeof q)) < 0)
		goto done;
	/* our reply, past any a caller that gave up left queued (bounded) */
	for (int i = 0; i < 8; i++) {
		struct iovec iov = { buf.b, sizeof buf.b };
		struct sockaddr_nl from;
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof from,
				     .msg_iov = &iov, .msg_iovlen = 1 };
		const struct nlmsghdr *h = &buf.align;
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			rc = -errno;
			break;
		}
		if (from.nl_pid != 0 || !NLMSG_OK(h, (size_t)n) || h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
			rc = ((const struct inet_diag_msg *)NLMSG_DATA(h))->idiag_state ==
			     TCP_LISTEN;
		else if (h->nlmsg_type == NLMSG_ERROR &&
			 h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			rc = ((const struct nlmsgerr *)NLMSG_DATA(h))->error == -ENOENT ? 0 :
			     ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
		else
			rc = -EPROTO;
		break;
	}
done:
	if (kept)
		atomic_flag_clear(&lookup_busy);
	else
		sys_close(fd);
out:
	errno = saved;
	return rc;
}
