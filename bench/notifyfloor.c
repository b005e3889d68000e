/*
 * notifyfloor - the least a seccomp user-notification supervisor can cost:
 * CMD runs under a filter that stops bind(), and every notification is
 * answered at once with SECCOMP_USER_NOTIF_FLAG_CONTINUE, reading nothing.
 * bench/seccomp.sh runs bindbench under it to show how much of the price
 * of `reuse run --seccomp` is the kernel's round trip and how much ours.
 *
 *   notifyfloor CMD [ARG...]
 */
#define _GNU_SOURCE
#include <poll.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} u;
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof u.b };
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	scmp_filter_ctx ctx;
	int sv[2], fd, status = 0;
	pid_t pid;

	if (argc < 2 || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		return 2;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(bind), 0) ||
	    seccomp_notify_alloc(&req, &resp))
		return 1;
	pid = fork();
	if (pid == 0) {
		if (seccomp_load(ctx) || (fd = seccomp_notify_fd(ctx)) < 0)
			_exit(126);
		memset(&u, 0, sizeof u);
		CMSG_FIRSTHDR(&m)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&m)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&m)->cmsg_len = CMSG_LEN(sizeof fd);
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&m)), &fd, sizeof fd);
		if (sendmsg(sv[1], &m, 0) != 1)
			_exit(126);
		close(fd);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (pid < 0 || recvmsg(sv[0], &m, 0) != 1)
		return 1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, -1) < 0 || !(p.revents & POLLIN))
			break;
		memset(req, 0, sizeof *req);
		if (seccomp_notify_receive(fd, req))
			continue;
		memset(resp, 0, sizeof *resp);
		resp->id = req->id;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		seccomp_notify_respond(fd, resp);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
