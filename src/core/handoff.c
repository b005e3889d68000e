/*
 * handoff.c - instances of one program sharing and passing sockets.
 *
 *  - sharing (reuseport=force): the warning at listen() when the network
 *    namespace resets the connections queued on a member that closes;
 *  - handoff: a new instance whose bind() fails with EADDRINUSE receives
 *    the socket a running instance of its uid holds, over a Unix socket
 *    (SCM_RIGHTS), and gets it at its own fd number;
 *  - socket activation: a bind() to the address of a socket passed in
 *    LISTEN_FDS adopts that socket;
 *  - supervision: "serving"/"taken" events on REUSE_SUPERVISE_FD, for
 *    `reuse run --supervise`.
 *
 * The running instance's side is one helper thread, started when its first
 * handoff socket binds. It blocks every signal (the program's handlers run
 * in the program's own threads), sleeps in accept() on a Unix socket in a
 * 0700 directory of its uid, and touches the program's sockets only by
 * duplicating one it hands over: nothing on the data path. Its fds are the
 * library's own (ownfd.c: high, close-on-exec, invisible to close()).
 *
 * The process that holds a socket serves it. A forked child holds the
 * parent's sockets but not its thread: the fork handler (lock.c) starts the
 * child's own server, so a daemon that forks away after binding (nginx
 * `daemon on`, dnsmasq, lighttpd) still hands its sockets over once the
 * parent is gone. Once a second the thread looks up: a server whose
 * program closed every served socket stops (its listener goes away), and
 * a name (DIR/KEY) that points at an instance that is gone is pointed at
 * this one again. A new instance that finds the name dead asks every other
 * live server of its uid in turn.
 *
 * The new instance's side and socket activation are handoff_take.c.
 *
 * Trust: only the same uid can reach the directory (0700, owner checked),
 * and each side checks the other's SO_PEERCRED: the server answers only
 * the uid that bound the socket, the client accepts only a server of its
 * own uid. Any process of that uid can ask for the socket: within the
 * trust boundary, as it could ptrace the instance anyway.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "core/host.h"
#include "core/handoff_int.h"
#include "core/lock.h"
#include "core/sys.h"

#define HO_TICK_MS 1000               /* the server's look-up (top of the file) */

/* A handoff socket this process serves. */
struct served {
	int fd;                       /* the program's fd number */
	int pidfd;                    /* the program's pidfd (supervisor), or -1 */
	uint64_t ino;
	uint32_t uid;                 /* euid at bind(): who may receive it */
	uint8_t proto;
	int32_t rule;
	struct sockaddr_storage ss;
};

static struct served *served;         /* under reuse_lock */
static size_t nserved, capserved;
static bool serving;                  /* the thread runs (in this process) */
static char serve_dir[160];           /* where our listener lives */

static _Atomic int ho_listen = -1;    /* the thread's Unix listener */
static _Atomic int ho_conn = -1;      /* the request it is answering */
static _Atomic int ho_dup = -1;       /* the duplicate it is sending */
static _Atomic int sup_fd = -1;       /* REUSE_SUPERVISE_FD */
static uint64_t sup_ino;

/* ---- small helpers ---------------------------------------------------- */

uint64_t ho_ino_of(int fd)
{
	struct stat st;

	return sys_fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? (uint64_t)st.st_ino : 0;
}

/* The same local address: family, address bytes and port. */
bool ho_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* "tcp4-127.0.0.1-8080", "udp6-[::1]-53": a socket's key everywhere. */
void ho_endpoint_name(unsigned proto, const struct sockaddr_storage *ss,
			  char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a);
		port = ntohs(in6->sin6_port);
		snprintf(out, len, "%s6-[%s]-%u", proto == REUSE_P_TCP ? "tcp" : "udp",
			 a, port);
	} else {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s4-%s-%u", proto == REUSE_P_TCP ? "tcp" : "udp",
			 a, port);
	}
}

/*
 * reuse_user_dir - uid's private directory (handoff sockets, reuse run's
 * policy copies), created if missing: $REUSE_HANDOFF_DIR/UID, else /run/libreuse/0 for root, else
 * /run/user/UID/libreuse when the login manager made /run/user/UID, else
 * /tmp/libreuse-UID. It must be a real directory owned by uid with no
 * access for group or others. 0, or an errno (out names the path).
 */
int reuse_user_dir(uint32_t uid, char *out, size_t len)
{
	const char *base = config_env("REUSE_HANDOFF_DIR");
	char user[64];
	struct stat st;

	if (base && *base) {
		snprintf(out, len, "%s/%u", base, uid);
	} else if (uid == 0) {
		if (mkdir("/run/libreuse", 0755) < 0 && errno != EEXIST)
			snprintf(out, len, "/tmp/libreuse-0");
		else
			snprintf(out, len, "/run/libreuse/0");
	} else {
		snprintf(user, sizeof user, "/run/user/%u", uid);
		if (stat(user, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
			snprintf(out, len, "%s/libreuse", user);
		else
			snprintf(out, len, "/tmp/libreuse-%u", uid);
	}
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return errno;
	if (lstat(out, &st) < 0)
		return errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077))
		return EPERM;
	return 0;
}

bool ho_unix_path(struct sockaddr_un *sun, const char *dir, const char *name)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	return (size_t)snprintf(sun->sun_path, sizeof sun->sun_path, "%s/%s", dir,
				name) < sizeof sun->sun_path;
}

/* One handoff line about fd's socket (call "handoff", action "handoff"). */
static void log_handoff(int fd, const struct reuse_sock *k,
			const struct sockaddr_storage *ss, int32_t rule, int result,
			const char *msg)
{
	struct reuse_event ev;
	const struct reuse_rule *r = NULL;

	if (reuse_cfg.level == REUSE_LOG_OFF)
		return;
	if (rule >= 0 && (size_t)rule < reuse_cfg.policy.nrules)
		r = &reuse_cfg.policy.rules[rule];
	if (r && r->log == REUSE_LOG_OFF)
		return;
	memset(&ev, 0, sizeof ev);
	ev.call = "handoff";
	ev.fd = fd;
	ev.sock = k;
	ev.addr = (const struct sockaddr *)ss;
	ev.rule = r;
	if (!r)
		ev.rule_text = "none";
	ev.action = "handoff";
	ev.result = result;
	ev.msg = msg;
	ev.ra_now = fd >= 0 ? sys_getflag(fd, SO_REUSEADDR) : -1;
	ev.rp_now = fd >= 0 ? sys_getflag(fd, SO_REUSEPORT) : -1;
	log_event(&ev);
}

/* ---- supervision events ------------------------------------------------ */

/*
 * report - one event line to `reuse run --supervise`, as one datagram on
 * the socket it passed (REUSE_SUPERVISE_FD): "serving KEY PID" once this
 * process serves a handoff socket, "taken KEY PID FROMPID" once it took
 * one over. Never blocks, never raises SIGPIPE, keeps errno.
 */
void ho_report(const char *what, unsigned proto, const struct sockaddr_storage *ss,
		   int from)
{
	int saved = errno, fd = atomic_load(&sup_fd);
	char key[96], line[160];
	int n;

	if (fd < 0 || ho_ino_of(fd) != sup_ino)
		goto out;
	ho_endpoint_name(proto, ss, key, sizeof key);
	if (from > 0)
		n = snprintf(line, sizeof line, "%s %s %d %d\n", what, key,
			     (int)sys_getpid(), from);
	else
		n = snprintf(line, sizeof line, "%s %s %d\n", what, key, (int)sys_getpid());
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* the supervisor is gone: nothing to tell */
	}
out:
	errno = saved;
}

/* ---- the running instance's side: the helper thread ------------------- */

/* A duplicate of the served socket, high and close-on-exec, if the
 * program still holds it at its number; -1 otherwise. The supervisor
 * serves for its targets: it takes the socket from the target when asked
 * (keeping a duplicate would hold the port after the target closed it). */
static int served_dup(const struct served *e)
{
	int d, t;

	if (e->pidfd < 0)
		d = fd_dup_high(e->fd);
	else if ((t = (int)syscall(SYS_pidfd_getfd, e->pidfd, e->fd, 0)) < 0)
		d = -1;
	else if ((d = fd_dup_high(t)) >= 0 || (d = t) < 0)
		sys_close(t);
	if (d >= 0 && ho_ino_of(d) != e->ino) {
		sys_close(d);
		d = -1;
	}
	return d;
}

/* Whether the program still holds the served socket. */
static bool served_live(const struct served *e)
{
	int d;

	if (e->pidfd < 0)
		return ho_ino_of(e->fd) == e->ino;
	if ((d = served_dup(e)) < 0)
		return false;
	sys_close(d);
	return true;
}

static void served_drop(struct served *e)
{
	if (e->pidfd >= 0)
		sys_close(e->pidfd);
	e->pidfd = -1;
}

/* The served entry for a request, copied out; false when none matches. */
static bool find_served(const struct ho_msg *q, struct served *out)
{
	bool found = false;

	reuse_lock();
	for (size_t i = 0; i < nserved;) {
		if (!served_live(&served[i])) {
			served_drop(&served[i]);
			served[i] = served[--nserved];    /* closed by the program */
			continue;
		}
		if (!found && served[i].proto == q->proto && ho_same_addr(&served[i].ss, &q->ss)) {
			*out = served[i];
			found = true;
		}
		i++;
	}
	reuse_unlock();
	return found;
}

static int send_reply(int c, struct ho_msg *a, int fd)
{
	return fd_send(c, a, sizeof *a, fd);
}

/*
 * answer - one request: the peer must be the uid that bound the socket and
 * another process; the socket is sent as a duplicate taken now and checked
 * to be the same socket (the program may have closed and reused its fd).
 */
static void answer(int c)
{
	struct ucred cr;
	socklen_t l = sizeof cr;
	struct timeval tv = { HO_TIMEOUT_S, 0 };
	struct ho_msg q, a;
	struct served e;
	struct reuse_sock k;
	char msg[640], key[96];
	int d = -1;

	sys_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	sys_setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (sys_getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		return;
	if (recv(c, &q, sizeof q, MSG_WAITALL) != (ssize_t)sizeof q ||
	    q.magic != HO_MAGIC || q.version != HO_VERSION)
		return;
	memset(&a, 0, sizeof a);
	a.magic = HO_MAGIC;
	a.version = HO_VERSION;
	a.proto = q.proto;
	a.pid = (int32_t)sys_getpid();
	a.ss = q.ss;
	ho_endpoint_name(q.proto, &q.ss, key, sizeof key);
	if (!find_served(&q, &e)) {
		a.status = ENOENT;
		send_reply(c, &a, -1);
		return;
	}
	if (cr.uid != e.uid) {
		a.status = EPERM;
		snprintf(msg, sizeof msg, "refused to hand %s to pid %d: its uid %u is not %u, the uid that bound it",
			 key, (int)cr.pid, (unsigned)cr.uid, e.uid);
	} else if (cr.pid == sys_getpid()) {
		a.status = EALREADY;
		snprintf(msg, sizeof msg, "refused to hand %s to this process itself", key);
	} else if ((d = served_dup(&e)) < 0) {
		a.status = ENOENT;
		snprintf(msg, sizeof msg, "%s was closed before it could be handed to pid %d",
			 key, (int)cr.pid);
	} else {
		fd_note_ours(d);
		atomic_store(&ho_dup, d);
		a.status = 0;
		snprintf(msg, sizeof msg, "handed %s to pid %d (uid %u): both instances serve it until this one stops",
			 key, (int)cr.pid, (unsigned)cr.uid);
	}
	if (send_reply(c, &a, a.status ? -1 : d) < 0 && !a.status) {
		a.status = errno ? errno : EIO;
		snprintf(msg, sizeof msg, "could not send %s to pid %d: %s", key,
			 (int)cr.pid, strerror(a.status));
	}
	if (d >= 0) {
		atomic_store(&ho_dup, -1);
		sys_close(d);
	}
	memset(&k, 0, sizeof k);
	k.proto = e.proto;
	k.family = (uint8_t)e.ss.ss_family;
	log_handoff(e.pidfd < 0 ? e.fd : -1, &k, &e.ss, e.rule, a.status, msg);
}

static bool tick(void);

/* The helper thread: accept, answer, close; look up once a second (tick).
 * Returns when its listener is gone. */
static void *serve_loop(void *arg)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };

	(void)arg;
	for (;;) {
		int lfd = atomic_load(&ho_listen);
		struct pollfd p = { lfd, POLLIN, 0 };
		int c, n;

		if (lfd < 0)
			return NULL;
		n = poll(&p, 1, HO_TICK_MS);
		if (n == 0) {
			if (tick())
				return NULL;     /* stopped: a later server is another thread's */
			continue;
		}
		if (n < 0) {
			nanosleep(&pause, NULL);
			continue;
		}
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK)
				return NULL;
			nanosleep(&pause, NULL);   /* EMFILE and friends: breathe */
			continue;
		}
		c = fd_move_high(c);
		fd_note_ours(c);
		atomic_store(&ho_conn, c);
		answer(c);
		atomic_store(&ho_conn, -1);
		sys_close(c);
	}
}

/* "pid-N..." as sscanf's "pid-%d" reads it (no sscanf: one import less
 * bound at every start, issue 16): N into *pid, the rest into *rest. */
static bool scan_pid(const char *name, int *pid, const char **rest)
{
	char *end;
	long v;

	if (name[0] != 'p' || name[1] != 'i' || name[2] != 'd' || name[3] != '-')
		return false;
	v = strtol(name + 4, &end, 10);
	if (end == name + 4)
		return false;
	*pid = (int)v;
	if (rest)
		*rest = end;
	return true;
}

/*
 * sweep - remove what instances that are gone left in dir: their
 * listeners (pid-N.sock of a pid that no longer exists) and the names that
 * point at nothing. Only when a server starts: nothing runs at exit.
 */
static void sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[512];
	int pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%.200s/%.255s", dir, de->d_name);
		if (scan_pid(de->d_name, &pid, NULL)) {
			if (kill(pid, 0) < 0 && errno == ESRCH)
				unlink(path);
		} else if (stat(path, &st) < 0 && errno == ENOENT) {
			unlink(path);          /* a name for a listener now gone */
		}
	}
	closedir(d);
}

/*
 * start_server - the listener DIR/pid-PID.sock and the thread that answers
 * on it, once per process (under reuse_lock; swept: skip the clean-up of
 * what gone instances left, as in a fork child). 0 or an errno.
 */
static int start_server(const char *dir, bool swept)
{
	static bool registered;             /* our slots, once per process image */
	struct sockaddr_un sun;
	char name[32];
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int fd, err;

	snprintf(name, sizeof name, "pid-%d.sock", (int)sys_getpid());
	if (!ho_unix_path(&sun, dir, name))
		return ENAMETOOLONG;
	if (!swept)
		sweep(dir);         /* not in a fork child: fork stays cheap */
	unlink(sun.sun_path);
	fd = sys_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (sys_bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || sys_listen(fd, 64) < 0) {
		err = errno;
		sys_close(fd);
		return err;
	}
	fd = fd_move_high(fd);
	fd_note_ours(fd);
	atomic_store(&ho_listen, fd);
	if (!registered) {
		fd_mark_ours(&ho_listen);
		fd_mark_ours(&ho_conn);
		fd_mark_ours(&ho_dup);
		registered = true;
	}
	/* the thread starts with every signal blocked and keeps them so */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	err = pthread_create(&t, &attr, serve_loop, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		atomic_store(&ho_listen, -1);
		sys_close(fd);
		unlink(sun.sun_path);
		return err;
	}
	if (dir != serve_dir)
		snprintf(serve_dir, sizeof serve_dir, "%s", dir);
	serving = true;
	return 0;
}

/* Point DIR/KEY at our listener (a relative symlink, replaced atomically):
 * the newest instance is the one a next instance asks. */
static int publish(const char *dir, const char *key)
{
	struct sockaddr_un tmp, dst;
	char target[32], tname[128];

	snprintf(target, sizeof target, "pid-%d.sock", (int)sys_getpid());
	snprintf(tname, sizeof tname, ".%s.%d", key, (int)sys_getpid());
	if (!ho_unix_path(&tmp, dir, tname) || !ho_unix_path(&dst, dir, key))
		return ENAMETOOLONG;
	unlink(tmp.sun_path);
	if (symlink(target, tmp.sun_path) < 0 || rename(tmp.sun_path, dst.sun_path) < 0) {
		int err = errno;
		unlink(tmp.sun_path);
		return err;
	}
	return 0;
}

/* Drop the entries whose socket the program closed (under reuse_lock or
 * in a fork child, which has one thread). */
static void prune(void)
{
	for (size_t i = 0; i < nserved;) {
		if (!served_live(&served[i])) {
			served_drop(&served[i]);
			served[i] = served[--nserved];
		} else {
			i++;
		}
	}
}

/* The pid DIR/NAME's listener belongs to, from its name pid-N.sock; 0 if
 * not such a name. */
int ho_pid_of_sock(const char *name)
{
	const char *r;
	int pid = 0;

	if (!scan_pid(name, &pid, &r) || r[0] != '.' || r[1] != 's' || r[2] != 'o' ||
	    r[3] != 'c' || r[4] != 'k' || pid <= 0)
		return 0;
	return pid;
}

/* Whether pid-N.sock in dir is a listener of a live process. */
static bool server_alive(const char *dir, int pid)
{
	struct sockaddr_un sun;
	char name[32];
	struct stat st;

	snprintf(name, sizeof name, "pid-%d.sock", pid);
	if (!ho_unix_path(&sun, dir, name) || stat(sun.sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	return !(kill(pid, 0) < 0 && errno == ESRCH);
}

/* DIR/KEY names an instance that is gone (or nothing): name this one. */
static void repair_name(const char *dir, const char *key)
{
	struct sockaddr_un sun;
	char target[64];
	ssize_t n;
	int pid;

	if (!ho_unix_path(&sun, dir, key))
		return;
	n = readlink(sun.sun_path, target, sizeof target - 1);
	if (n > 0) {
		target[n] = '\0';
		pid = ho_pid_of_sock(target);
		if (pid == (int)sys_getpid() || (pid && server_alive(dir, pid)))
			return;
	} else if (errno != ENOENT) {
		return;
	}
	publish(dir, key);
}

/*
 * tick - once a second in the thread: stop serving when the program holds
 * none of the served sockets any more (a forked child that closed them, a
 * daemon that let go); else make sure each served address is named by a
 * live server (the one it named was killed, or forked away and exited).
 * True when it stopped.
 */
static bool tick(void)
{
	enum { KEYS = 64 };
	struct { uint8_t proto; struct sockaddr_storage ss; } k[KEYS];
	struct sockaddr_un sun;
	char dir[sizeof serve_dir], name[32], key[96];
	size_t n = 0;
	int lfd = -1;

	reuse_lock();
	prune();
	if (!nserved) {
		/* under the lock: a handoff_serve() now starts a new server at
		 * this very path, which must not be unlinked after it */
		lfd = atomic_exchange(&ho_listen, -1);
		serving = false;
		snprintf(name, sizeof name, "pid-%d.sock", (int)sys_getpid());
		if (ho_unix_path(&sun, serve_dir, name))
			unlink(sun.sun_path);
		if (lfd >= 0)
			sys_close(lfd);
		reuse_unlock();
		return true;
	}
	for (size_t i = 0; i < nserved && n < KEYS; i++, n++) {
		k[n].proto = served[i].proto;
		k[n].ss = served[i].ss;
	}
	memcpy(dir, serve_dir, sizeof dir);
	reuse_unlock();
	for (size_t i = 0; i < n; i++) {
		ho_endpoint_name(k[i].proto, &k[i].ss, key, sizeof key);
		repair_name(dir, key);
	}
	return false;
}

/*
 * handoff_fork_child - in the child of fork() (lock.c's handler, after the
 * lock is fresh): the parent's thread, listener and in-flight request are
 * not ours; the sockets it served are, if the child still holds them.
 * The child starts its own server for them and tells the supervisor. The
 * names keep pointing at the parent while it lives (tick repairs them).
 */
void handoff_fork_child(void)
{
	int saved = errno;
	int fd = atomic_exchange(&ho_listen, -1);

	if (fd >= 0)
		sys_close(fd);
	if ((fd = atomic_exchange(&ho_conn, -1)) >= 0)
		sys_close(fd);
	if ((fd = atomic_exchange(&ho_dup, -1)) >= 0)
		sys_close(fd);
	serving = false;
	prune();
	if (nserved && serve_dir[0] && start_server(serve_dir, true) == 0)
		for (size_t i = 0; i < nserved; i++)
			ho_report("serving", served[i].proto, &served[i].ss, 0);
	errno = saved;
}

/*
 * handoff_serve - fd was just bound (or taken over) under a handoff rule:
 * serve it to the next instance of this uid. Logged when it cannot be.
 */
void handoff_serve(struct reuse_call *c)
{
	const struct reuse_sock *k = c->k;
	struct served e;
	char dir[160], key[96], msg[640];
	int err = 0, saved = errno, fd = c->sock;

	memset(&e, 0, sizeof e);
	e.fd = c->fd;
	e.pidfd = c->pidfd >= 0 ? fd_dup_high(c->pidfd) : -1;
	e.ino = k->ino;
	e.uid = (uint32_t)call_euid(c);
	if (e.pidfd >= 0)
		fd_note_ours(e.pidfd);
	e.proto = k->proto;
	e.rule = k->rule;
	if (!sock_local_addr(fd, &e.ss))
		goto out;
	ho_endpoint_name(k->proto, &e.ss, key, sizeof key);
	if ((err = reuse_user_dir(e.uid, dir, sizeof dir))) {
		snprintf(msg, sizeof msg, "cannot serve %s to a next instance: directory %s: %s",
			 key, dir, err == EPERM ? "not a 0700 directory of this uid" : strerror(err));
		goto fail;
	}
	reuse_lock();
	if (!serving || strcmp(dir, serve_dir) != 0)
		err = start_server(dir, false);
	if (!err && nserved == capserved) {
		size_t cap = capserved ? capserved * 2 : 8;
		struct served *n = realloc(served, cap * sizeof *n);
		if (n) {
			served = n;
			capserved = cap;
		} else {
			err = ENOMEM;
		}
	}
	if (!err)
		served[nserved++] = e;
	reuse_unlock();
	if (err)
		served_drop(&e);
	if (!err)
		err = publish(dir, key);
	if (err) {
		snprintf(msg, sizeof msg, "cannot serve %s to a next instance (%s/%s): %s",
			 key, dir, key, strerror(err));
		goto fail;
	}
	ho_report("serving", k->proto, &e.ss, 0);
	goto out;
fail:
	log_handoff(fd, k, &e.ss, e.rule, err, msg);
out:
	errno = saved;
}

/* ---- sharing ------------------------------------------------------------ */

/*
 * handoff_migrate_note - at listen() of a TCP socket shared through
 * SO_REUSEPORT: when this network namespace has net.ipv4.tcp_migrate_req=0,
 * the connections queued on one instance's socket are reset when that
 * instance closes it. Returns the warning, or NULL.
 */
const char *handoff_migrate_note(void)
{
	char c = '1';
	int fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (read(fd, &c, 1) != 1)
		c = '1';
	sys_close(fd);
	if (c != '0')
		return NULL;
	return "warning: shared through SO_REUSEPORT with net.ipv4.tcp_migrate_req=0 here: connections queued on this instance's socket are reset when it closes; fix: sysctl net.ipv4.tcp_migrate_req=1 (per network namespace)";
}

/* ---- start-up ----------------------------------------------------------- */

/*
 * handoff_init - read REUSE_SUPERVISE_FD and LISTEN_FDS once (init.c). The
 * supervision socket is kept at its number (a wrapper that execs the
 * daemon passes it on) and made the library's own, so a program closing
 * every fd does not cut it.
 */
void handoff_init(void)
{
	const char *v = config_env("REUSE_SUPERVISE_FD");
	char *end;
	long fd;

	if (v && *v) {
		fd = strtol(v, &end, 10);
		if (!*end && fd >= 0 && fd < 65536 && (sup_ino = ho_ino_of((int)fd))) {
			atomic_store(&sup_fd, (int)fd);
			fd_mark_ours(&sup_fd);
		}
	}
	if (!reuse_cfg.secure)
		ho_read_activation();
}
