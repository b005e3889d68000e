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
 *
 * A daemon that forks away (its first process exits once a child runs on:
 * nginx `daemon on`, redis `daemonize yes`, memcached -d) is followed: the
 * supervisor is a child subreaper (PR_SET_CHILD_SUBREAPER), so the child
 * becomes its own, and the process the instance goes on as is, in order,
 * the pid in --pid-file (systemd's PIDFile=), the latest pid that reported
 * a handoff event and is now our child (a master, not its workers), or the
 * only other child left. While processes an
 * instance left run, the supervisor never exits: it says what it follows
 * or waits for, and passes SIGTERM/SIGINT on to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_KEYS 64

struct instance {
	pid_t pid;                   /* 0: none; the process it goes on as */
	pid_t seen[16];              /* the pids its events came from, latest first */
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
		int pid = 0;

		line[n] = '\0';
		if (sscanf(line, "%15s %127s %d", what, key, &pid) < 2)
			continue;
		if (pid > 0 && pid != in->seen[0]) {
			memmove(in->seen + 1, in->seen, sizeof in->seen - sizeof *in->seen);
			in->seen[0] = pid;
		}
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

/* The parent of pid (/proc/PID/stat's fourth field), or 0 (also for a
 * zombie). */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p, state = 0;
	int ppid = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');          /* the name may hold anything */
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
		return 0;                   /* a zombie is about to be reaped */
	return ppid;
}

static bool our_child(pid_t pid)
{
	return pid > 0 && parent_of(pid) == getpid();
}

/* Our children but skip (another instance's process); at most max. */
static int children(pid_t skip, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while (n < max && (de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		if (pid > 0 && pid != skip && our_child(pid))
			out[n++] = pid;
	}
	closedir(d);
	return n;
}

/* The pid in a PID file, 0 if none can be read. */
static pid_t pid_in_file(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 ? pid : 0;
}

/*
 * successor - in's process `gone` exited: the process the instance goes
 * on as (top of the file), a child of ours that is not `other`, or 0.
 * The PID file may be written a moment after the first process exits (or
 * still name the other instance, or be removed by it as it stops): it is
 * read again for up to 2 s, while the events are read too.
 */
static pid_t successor(struct instance *in, pid_t gone, pid_t other,
		       const char *pid_file, const char **how)
{
	pid_t kids[2], pid;
	/* the PID file for up to 2 s; a handoff instance's events 0.5 s */
	int tries = pid_file ? 40 : in->nkeys ? 10 : 1;

	for (int i = 0; i < tries; i++) {
		pid = pid_file ? pid_in_file(pid_file) : 0;
		if (pid && pid != gone && pid != other && our_child(pid)) {
			*how = "its pid file";
			return pid;
		}
		/* a child that serves the handoff sockets says so from its
		 * fork handler, maybe a moment after its parent exited; the
		 * PID file may be removed meanwhile by the instance stopping */
		read_events(in);
		for (size_t j = 0; j < sizeof in->seen / sizeof *in->seen && in->seen[j]; j++) {
			pid = in->seen[j];
			if (pid != gone && pid != other && our_child(pid)) {
				*how = "its handoff events";
				return pid;
			}
		}
		if (i + 1 < tries)
			usleep(50 * 1000);
	}
	if (children(other, kids, 2) == 1) {
		*how = "the only process it left";
		return kids[0];
	}
	return 0;
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
int cli_supervise(char **cmd, double timeout, int stop_sig, const char *pid_file)
{
	struct instance cur, nw;
	sigset_t mask, old;
	int sfd, status = 0;
	double deadline = 0;
	bool activation, stopping = false, orphans = false;
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
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		cli_error("supervise: cannot become a child subreaper (%s): a daemon that forks away is not followed",
			  strerror(errno));
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
				if (cur.pid)
					kill(cur.pid, (int)si.ssi_signo);
				if (nw.pid)
					kill(nw.pid, (int)si.ssi_signo);
				if (orphans) {
					pid_t kids[64];
					int n = children(0, kids, 64);
					for (int i = 0; i < n; i++)
						kill(kids[i], (int)si.ssi_signo);
				}
			}
		}
		/* reap: the current instance's end is ours */
		for (;;) {
			int st;
			pid_t pid = waitpid(-1, &st, WNOHANG), next;
			const char *how = "";

			if (pid < 0 && errno == ECHILD && orphans)
				goto done;             /* the last process it left is gone */
			if (pid <= 0)
				break;
			if (pid == cur.pid && !stopping &&
			    (next = successor(&cur, pid, nw.pid, pid_file, &how))) {
				fprintf(stderr, "reuse: supervise: pid %d exited (%d) and goes on as pid %d (from %s); following it\n",
					(int)pid, status_of(st), (int)next, how);
				cur.pid = next;
				continue;
			}
			if (pid == nw.pid && !stopping &&
			    (next = successor(&nw, pid, cur.pid, pid_file, &how))) {
				fprintf(stderr, "reuse: supervise: new pid %d exited (%d) and goes on as pid %d (from %s); following it\n",
					(int)pid, status_of(st), (int)next, how);
				nw.pid = next;
				continue;
			}
			if (pid == cur.pid) {
				status = status_of(st);
				if (!nw.pid) {
					pid_t kids[8];
					int n = children(0, kids, 8);

					forget(&cur);
					if (!n)
						goto done;
					/* never silent while what it left runs */
					fprintf(stderr, "reuse: supervise: pid %d exited (%d) but left %d process%s running (pid %d%s): waiting for %s; SIGTERM and SIGINT go to %s\n",
						(int)pid, status, n, n == 1 ? "" : "es", (int)kids[0],
						n > 1 ? ", ..." : "", n == 1 ? "it" : "them",
						n == 1 ? "it" : "them");
					orphans = true;
					continue;
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
