/*
 * takeover.c - `reuse run --supervise`: stay as the parent of CMD and turn
 * SIGHUP into a zero-downtime restart.
 *
 * Each instance is started with REUSE_SUPERVISE_FD naming its end of a
 * datagram socket pair; the library in it sends one line per event
 * (handoff.c): "serving KEY PID" when it serves a handoff socket (bound or
 * taken over), "taken KEY PID FROMPID" when it took one over. On SIGHUP a
 * new instance is started; once it serves every KEY the current one serves
 * (it took them over under the `handoff` rule), the old one gets the stop
 * signal (SIGTERM by default). If that does not happen within the takeover
 * timeout, the new instance is stopped and the old one keeps serving.
 * SIGTERM and SIGINT go to the instances; the supervisor exits with the
 * current instance's status when it ends (128+N for signal N, as a shell).
 * Sockets passed by socket activation (LISTEN_FDS for this process) are
 * passed on to every instance, LISTEN_PID set to the instance's pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_KEYS 64

struct instance {
	pid_t pid;                   /* 0: none */
	int fd;                      /* our end of its event socket */
	char *keys[MAX_KEYS];        /* what it serves */
	int nkeys;
};

static void forget(struct instance *in)
{
	for (int i = 0; i < in->nkeys; i++)
		free(in->keys[i]);
	if (in->fd >= 0)
		close(in->fd);
	memset(in, 0, sizeof *in);
	in->fd = -1;
}

static bool serves(const struct instance *in, const char *key)
{
	for (int i = 0; i < in->nkeys; i++)
		if (strcmp(in->keys[i], key) == 0)
			return true;
	return false;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Start one instance of cmd; 0 or -1 after a message. */
static int spawn(char **cmd, const sigset_t *mask, bool activation,
		 struct instance *in)
{
	int sv[2];
	pid_t pid;

	memset(in, 0, sizeof *in);
	in->fd = -1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		cli_error("supervise: socketpair: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		cli_error("supervise: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		char num[16];

		sigprocmask(SIG_SETMASK, mask, NULL);
		fcntl(sv[1], F_SETFD, 0);
		snprintf(num, sizeof num, "%d", sv[1]);
		setenv("REUSE_SUPERVISE_FD", num, 1);
		if (activation) {
			snprintf(num, sizeof num, "%d", (int)getpid());
			setenv("LISTEN_PID", num, 1);
		}
		execvp(cmd[0], cmd);
		cli_error("cannot run '%s': %s", cmd[0], strerror(errno));
		_exit(errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
	}
	close(sv[1]);
	in->pid = pid;
	in->fd = sv[0];
	return 0;
}

/* Read the events waiting on in's socket. */
static void read_events(struct instance *in)
{
	char line[256], what[16], key[128];

	for (;;) {
		ssize_t n = recv(in->fd, line, sizeof line - 1, MSG_DONTWAIT);
		if (n <= 0)
			return;
		line[n] = '\0';
		if (sscanf(line, "%15s %127s", what, key) != 2)
			continue;
		if (strcmp(what, "serving") == 0 && !serves(in, key) && in->nkeys < MAX_KEYS)
			in->keys[in->nkeys++] = strdup(key);
	}
}

/* Whether the new instance serves everything the old one does. */
static bool taken_over(const struct instance *old, const struct instance *nw)
{
	for (int i = 0; i < old->nkeys; i++)
		if (!serves(nw, old->keys[i]))
			return false;
	return true;
}

static int status_of(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/*
 * cli_supervise - run cmd under supervision (see the top of the file).
 * Returns the exit status of the last current instance.
 */
int cli_supervise(char **cmd, double timeout, int stop_sig)
{
	struct instance cur, nw;
	sigset_t mask, old;
	int sfd, status = 0;
	double deadline = 0;
	bool activation, stopping = false;
	const char *lp = getenv("LISTEN_PID");

	activation = lp && atol(lp) == (long)getpid() && getenv("LISTEN_FDS");
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		cli_error("supervise: signalfd: %s", strerror(errno));
		return 1;
	}
	memset(&nw, 0, sizeof nw);
	nw.fd = -1;
	if (spawn(cmd, &old, activation, &cur) < 0)
		return 1;
	fprintf(stderr, "reuse: supervise: started %s as pid %d\n", cmd[0], (int)cur.pid);
	for (;;) {
		struct pollfd p[3] = { { sfd, POLLIN, 0 }, { cur.fd, POLLIN, 0 },
				       { nw.fd, POLLIN, 0 } };
		int wait_ms = -1;
		struct signalfd_siginfo si;

		if (nw.pid) {
			double left = deadline - now_s();
			wait_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		}
		if (poll(p, 3, wait_ms) < 0 && errno != EINTR)
			break;
		if (cur.fd >= 0)
			read_events(&cur);
		if (nw.fd >= 0)
			read_events(&nw);
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGHUP && !stopping) {
				if (nw.pid) {
					fprintf(stderr, "reuse: supervise: SIGHUP ignored: pid %d is still taking over\n",
						(int)nw.pid);
				} else if (!cur.nkeys) {
					fprintf(stderr, "reuse: supervise: SIGHUP ignored: pid %d serves no handoff socket, so no new instance could take over (a rule with `handoff` for its sockets is needed)\n",
						(int)cur.pid);
				} else if (spawn(cmd, &old, activation, &nw) == 0) {
					deadline = now_s() + timeout;
					fprintf(stderr, "reuse: supervise: SIGHUP: started pid %d to take over from pid %d\n",
						(int)nw.pid, (int)cur.pid);
				}
			} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				stopping = true;
				kill(cur.pid, (int)si.ssi_signo);
				if (nw.pid)
					kill(nw.pid, (int)si.ssi_signo);
			}
		}
		/* reap: the current instance's end is ours */
		for (;;) {
			int st;
			pid_t pid = waitpid(-1, &st, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == cur.pid) {
				status = status_of(st);
				if (!nw.pid) {
					forget(&cur);
					goto done;
				}
				/* it ended during a takeover: the new one is current */
				fprintf(stderr, "reuse: supervise: pid %d exited (%d) during the takeover; pid %d is now current\n",
					(int)pid, status, (int)nw.pid);
				forget(&cur);
				cur = nw;
				memset(&nw, 0, sizeof nw);
				nw.fd = -1;
			} else if (pid == nw.pid) {
				fprintf(stderr, "reuse: supervise: new pid %d exited (%d) before taking over; pid %d keeps serving\n",
					(int)pid, status_of(st), (int)cur.pid);
				forget(&nw);
			}
		}
		if (nw.pid && taken_over(&cur, &nw)) {
			fprintf(stderr, "reuse: supervise: pid %d took over %d handoff socket%s; stopping pid %d with signal %d\n",
				(int)nw.pid, cur.nkeys, cur.nkeys == 1 ? "" : "s", (int)cur.pid, stop_sig);
			kill(cur.pid, stop_sig);
			close(cur.fd);
			for (int i = 0; i < cur.nkeys; i++)
				free(cur.keys[i]);
			cur = nw;
			memset(&nw, 0, sizeof nw);
			nw.fd = -1;
		} else if (nw.pid && now_s() >= deadline) {
			fprintf(stderr, "reuse: supervise: pid %d did not take over within %g s; stopping it, pid %d keeps serving\n",
				(int)nw.pid, timeout, (int)cur.pid);
			kill(nw.pid, SIGTERM);
			close(nw.fd);
			for (int i = 0; i < nw.nkeys; i++)
				free(nw.keys[i]);
			memset(&nw, 0, sizeof nw);
			nw.fd = -1;
		}
	}
done:
	forget(&nw);
	close(sfd);
	return status;
}
