/*
 * seccomp.c - `reuse run --seccomp -- CMD`: run CMD as our child under a
 * seccomp user-notification filter and supervise it (supervise.c decides).
 *
 * The filter stops bind(), listen() and shutdown(), setsockopt()/getsockopt()
 * of SOL_SOCKET SO_REUSEADDR/SO_REUSEPORT (matched on the arguments in the
 * kernel, so no other option ever leaves the target), and
 * landlock_restrict_self(); under a policy with a TCP exclusive rule, also
 * close(), close_range(), dup2() and dup3(). socket() is not
 * stopped: nothing is decided there, and every client socket would pay a
 * round trip; a socket is learned from the kernel at its first stopped call.
 *
 * The filter is installed by the child itself (no_new_privs, so no
 * privilege is needed), which hands the listener fd to us over a socket
 * pair and then executes CMD. Every thread and process CMD makes inherits
 * the filter, and their calls all come to this one listener, each with the
 * caller's thread id. We serve until the last task holding the filter is
 * gone (the listener then reports POLLHUP), so a daemon that forks into
 * the background stays supervised; our exit status is CMD's.
 *
 * If we die, the kernel answers every pending and later stopped call with
 * ENOSYS: the target never hangs on a dead supervisor, but its binds fail.
 */
#include <errno.h>
#include <poll.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"

/* Signals a user sends to `reuse` that are meant for CMD. */
static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 };

/*
 * The filter: notify on the calls the policy acts on, allow the rest.
 * Calls of another architecture (a 32-bit program) are allowed untouched:
 * i386 reaches bind through socketcall(), whose arguments a filter cannot
 * see; reuse(1) says so.
 */
static scmp_filter_ctx build_filter(bool closes)
{
	static const int opts[] = { SO_REUSEADDR, SO_REUSEPORT };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = 0;

	if (!ctx)
		return NULL;
	rc |= seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(bind), 0);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(listen), 0);
	/* a listener shut down keeps its port (engine_shutdown) */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(shutdown), 0);
	/* a Landlock domain: calls are no longer made on its behalf
	 * (seccomp_target.c); rare, once per sandbox */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(landlock_restrict_self), 0);
	/* an exclusive listener's close takes SO_REUSEADDR from its connections,
	 * which get it back at theirs (core/engine_drain.c): only under a policy
	 * that makes exclusive TCP listeners, each close pays a round trip */
	if (closes) {
		rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(close), 0);
		rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(close_range), 0);
		rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(dup2), 0);
		rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(dup3), 0);
	}
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(setsockopt), 2,
				       SCMP_A1_32(SCMP_CMP_EQ, SOL_SOCKET),
				       SCMP_A2_32(SCMP_CMP_EQ, opts[i]));
		rc |= seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(getsockopt), 2,
				       SCMP_A1_32(SCMP_CMP_EQ, SOL_SOCKET),
				       SCMP_A2_32(SCMP_CMP_EQ, opts[i]));
	}
	if (rc) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

static int send_fd(int sock, int fd)
{
	char data = 0;

	return fd_send(sock, &data, 1, fd);
}

/* The fd the child sent, or -1 when it died (or exec'd) without sending. */
static int recv_fd(int sock)
{
	char data;
	int fd;

	if (fd_recv(sock, &data, 1, &fd, 0) == 1)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/*
 * load_filter - install ctx's program with a new listener; the listener's
 * fd, or -errno. WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has
 * received a call, a signal to the target no longer interrupts it, so a
 * call the supervisor made on its behalf is never answered twice (a timer
 * firing during bind() made a restarted bind() find the socket bound, or
 * returned EINTR, which a real bind() never does). libseccomp 2.5 cannot
 * set that flag: its program is exported and loaded here; an older kernel
 * gets libseccomp's own load.
 */
static int load_filter(scmp_filter_ctx ctx)
{
	struct sock_filter insns[512];   /* the filter is a few dozen: a pipe holds it */
	struct sock_fprog prog;
	ssize_t n = -1;
	int p[2], fd = -1, rc;

	if (pipe(p) == 0) {
		if (seccomp_export_bpf(ctx, p[1]) == 0) {
			close(p[1]);
			n = read(p[0], insns, sizeof insns);
		} else {
			close(p[1]);
		}
		close(p[0]);
	}
	if (n > 0 && n % (ssize_t)sizeof *insns == 0 &&
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
		prog.len = (unsigned short)(n / (ssize_t)sizeof *insns);
		prog.filter = insns;
		fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				  SECCOMP_FILTER_FLAG_NEW_LISTENER |
				  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
		if (fd >= 0)
			return fd;
	}
	rc = seccomp_load(ctx);   /* sets no_new_privs first */
	if (rc < 0)
		return rc;
	fd = seccomp_notify_fd(ctx);
	return fd < 0 ? -EINVAL : fd;
}

/*
 * The child: install the filter, hand the listener to the parent, become
 * CMD. Never returns; 126/127 as env(1) when CMD cannot run.
 */
static void child(scmp_filter_ctx ctx, int sock, char **cmdv,
		  const sigset_t *oldmask)
{
	int rc, nfd, err;

	sigprocmask(SIG_SETMASK, oldmask, NULL);
	rc = nfd = load_filter(ctx);
	if (rc < 0) {
		cli_error("cannot install the seccomp filter: %s", strerror(-rc));
		_exit(EXIT_CANNOT_RUN);
	}
	if (send_fd(sock, nfd) < 0) {
		cli_error("cannot hand the seccomp listener over: %s", strerror(errno));
		_exit(EXIT_CANNOT_RUN);
	}
	close(nfd);
	close(sock);
	execvp(cmdv[0], cmdv);
	err = errno;
	if (err == ENOENT && !strchr(cmdv[0], '/'))
		cli_error("%s: command not found", cmdv[0]);
	else
		cli_error("cannot run '%s': %s", cmdv[0], strerror(err));
	_exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
}

/*
 * Our exit status as CMD's: its own, or 128+N when signal N killed it, as a
 * shell reports it and as --supervise does (takeover.c): one way for both.
 */
static int exit_like(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/*
 * A signal arrived: reap CMD on SIGCHLD; pass on to CMD what a user sent
 * us with kill(1) (a terminal's ^C reaches CMD by itself: same process
 * group, so those, sent by the kernel, are not sent twice).
 */
static void on_signal(int sfd, pid_t pid, bool *reaped, int *status)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGCHLD) {
			if (!*reaped && waitpid(pid, status, WNOHANG) == pid)
				*reaped = true;
		} else if (!*reaped && si.ssi_code != SI_KERNEL) {
			kill(pid, (int)si.ssi_signo);
		}
	}
}

/*
 * seccomp_run - start CMD under the filter and serve it until no task
 * holds the filter any more. Returns the exit status for `reuse`.
 */
int seccomp_run(char **cmdv)
{
	struct seccomp_notif *req = NULL;
	struct seccomp_notif_resp *resp = NULL;
	sigset_t mask, old;
	scmp_filter_ctx ctx;
	int sv[2], nfd, sfd, status = 0;
	bool reaped = false;
	pid_t pid;

	if (seccomp_api_get() < 5) {
		cli_error("--seccomp: this kernel or libseccomp has no seccomp user notification");
		return 1;
	}
	supervise_init();
	if (!(ctx = build_filter(supervise_stops_close())) || seccomp_notify_alloc(&req, &resp) < 0) {
		cli_error("--seccomp: cannot build the filter");
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&mask, forwarded[i]);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		cli_error("--seccomp: %s", strerror(errno));
		return 1;
	}
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_error("--seccomp: fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		child(ctx, sv[1], cmdv, &old);
	}
	close(sv[1]);
	seccomp_release(ctx);
	nfd = recv_fd(sv[0]);
	close(sv[0]);

	struct pollfd p[2] = { { nfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
	while (nfd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN)
			on_signal(sfd, pid, &reaped, &status);
		if (p[0].revents & POLLIN) {
			memset(req, 0, sizeof *req);
			if (seccomp_notify_receive(nfd, req) == 0)
				supervise_one(nfd, req, resp);
		} else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			break;            /* no task holds the filter any more */
		}
	}
	if (nfd >= 0)
		close(nfd);
	if (!reaped)
		waitpid(pid, &status, 0);
	seccomp_notify_free(req, resp);
	return exit_like(status);
}
