/*
 * handoff_take.c - the new instance's side of handoff (handoff.c), and
 * socket activation.
 *
 *  - handoff_take: the program's bind() met EADDRINUSE under a handoff
 *    rule: ask the instance of this uid that the name DIR/KEY points at for
 *    its socket, or, when that one is gone, every other live server of the
 *    uid; the host installs what comes at the program's fd number;
 *  - handoff_adopt: a bind() to the address of a socket passed in
 *    LISTEN_FDS adopts that socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/host.h"
#include "core/handoff_int.h"
#include "core/lock.h"
#include "core/sys.h"

/* Sockets passed by socket activation (LISTEN_FDS), not yet adopted. */
#define ACT_MAX 64
static struct {
	int fd;
	uint64_t ino;
	uint8_t proto;
	struct sockaddr_storage ss;
} act[ACT_MAX];
int handoff_nact;                      /* under reuse_lock after init; read unlocked as a hint */

/* ---- the new instance's side ------------------------------------------- */

/* Receive one reply and at most one fd. */
static int recv_reply(int c, struct ho_msg *a, int *fd)
{
	ssize_t n = fd_recv(c, a, sizeof *a, fd, MSG_WAITALL);

	if (n < 0)
		return errno;
	if (n != (ssize_t)sizeof *a || a->magic != HO_MAGIC || a->version != HO_VERSION)
		return EPROTO;
	return 0;
}

/*
 * ask - connect to the instance serving key and ask for the socket.
 * Returns the received fd, or -1 with msg saying why.
 */
static int ask(const char *dir, const char *key, unsigned proto, uint32_t uid,
	       const struct sockaddr_storage *ss, int *from, char *msg, size_t mlen)
{
	struct sockaddr_un sun;
	struct timeval tv = { HO_TIMEOUT_S, 0 };
	struct ucred cr;
	socklen_t l = sizeof cr;
	struct ho_msg q, a;
	int c, r = -1, err;

	memset(&a, 0, sizeof a);
	if (!ho_unix_path(&sun, dir, key)) {
		snprintf(msg, mlen, "path %s/%s too long", dir, key);
		return -1;
	}
	if ((c = sys_socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(msg, mlen, "socket: %s", strerror(errno));
		return -1;
	}
	sys_setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	sys_setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (sys_connect(c, (struct sockaddr *)&sun, sizeof sun) < 0) {
		err = errno;
		snprintf(msg, mlen, err == ENOENT || err == ECONNREFUSED ?
			 "no running instance of uid %u serves it (%s: %s)" :
			 "cannot reach the instance of uid %u serving it (%s: %s)",
			 (unsigned)uid, sun.sun_path, strerror(err));
		goto out;
	}
	if (sys_getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 ||
	    cr.uid != uid) {
		snprintf(msg, mlen, "refused: %s is served by pid %d of uid %u, not this uid %u",
			 sun.sun_path, (int)cr.pid, (unsigned)cr.uid, (unsigned)uid);
		goto out;
	}
	if (cr.pid == sys_getpid()) {
		/* this very process serves it: nothing to take (a program
		 * binding its own second socket on the address) */
		snprintf(msg, mlen, "this process serves it already");
		goto out;
	}
	*from = cr.pid;
	memset(&q, 0, sizeof q);
	q.magic = HO_MAGIC;
	q.version = HO_VERSION;
	q.proto = (uint8_t)proto;
	q.pid = (int32_t)sys_getpid();
	q.ss = *ss;
	if (send(c, &q, sizeof q, MSG_NOSIGNAL) != (ssize_t)sizeof q) {
		snprintf(msg, mlen, "asking pid %d: %s", (int)cr.pid, strerror(errno));
		goto out;
	}
	if ((err = recv_reply(c, &a, &r))) {
		snprintf(msg, mlen, "no answer from pid %d: %s", (int)cr.pid, strerror(err));
		goto out;
	}
	if (a.status) {
		snprintf(msg, mlen, "pid %d did not hand it over: %s", (int)cr.pid,
			 a.status == ENOENT ? "it holds no such handoff socket" :
			 a.status == EPERM ? "another uid" : strerror(a.status));
		goto out;
	}
	if (r < 0)
		snprintf(msg, mlen, "pid %d sent no socket", (int)cr.pid);
out:
	if (a.status && r >= 0) {
		sys_close(r);
		r = -1;
	}
	sys_close(c);
	return r;
}

/*
 * ask_others - the server DIR/KEY names did not hand the socket over (it
 * is gone: killed after a takeover, or a daemon that forked away): ask the
 * other live servers of this uid, at most HO_SCAN_MAX, each answering at
 * once that it holds no such socket or handing it over. Returns the fd
 * or -1; *msg is left as the named server's answer when none had it.
 */
static int ask_others(const char *dir, const char *key, unsigned proto, uint32_t uid,
		      const struct sockaddr_storage *ss, int *from)
{
	struct sockaddr_un sun;
	char target[64], why[256];
	DIR *d;
	struct dirent *de;
	ssize_t n;
	int named = 0, asked = 0, r = -1, pid;

	if (ho_unix_path(&sun, dir, key) &&
	    (n = readlink(sun.sun_path, target, sizeof target - 1)) > 0) {
		target[n] = '\0';
		named = ho_pid_of_sock(target);
	}
	if (!(d = opendir(dir)))
		return -1;
	while (r < 0 && asked < HO_SCAN_MAX && (de = readdir(d))) {
		pid = ho_pid_of_sock(de->d_name);
		if (!pid || pid == named || pid == (int)sys_getpid() ||
		    (kill(pid, 0) < 0 && errno == ESRCH))
			continue;
		asked++;
		r = ask(dir, de->d_name, proto, uid, ss, from, why, sizeof why);
	}
	closedir(d);
	return r;
}

/*
 * handoff_take - the program's bind() of fd to ss failed with EADDRINUSE
 * under a handoff rule: ask the instance of this uid serving that address
 * for its socket, check it is the very address and kind, and install it at
 * fd. Returns the socket's new record (bind() then succeeds), or NULL with
 * msg saying why (the program gets the EADDRINUSE). Logged either way by
 * the caller's bind line; the giving side logs its own.
 */
struct reuse_sock *handoff_take(struct reuse_call *c, const struct sockaddr_storage *ss,
				char *msg, size_t mlen)
{
	const struct reuse_sock *k = c->k;
	uint32_t uid = (uint32_t)call_euid(c);
	char dir[160], key[96], note[160];
	struct sockaddr_storage got;
	struct reuse_sock *nk;
	int r, from = 0, family = 0, err, saved = errno, fd = c->fd;

	ho_endpoint_name(k->proto, ss, key, sizeof key);
	msg[0] = '\0';
	if ((err = reuse_user_dir(uid, dir, sizeof dir))) {
		snprintf(msg, mlen, "handoff: directory %s: %s", dir,
			 err == EPERM ? "not a 0700 directory of this uid, refused" : strerror(err));
		errno = saved;
		return NULL;
	}
	memset(&got, 0, sizeof got);
	r = ask(dir, key, k->proto, uid, ss, &from, msg, mlen);
	if (r < 0)
		r = ask_others(dir, key, k->proto, uid, ss, &from);
	if (r >= 0 && (sock_proto_of_fd(r, &family) != k->proto || family != k->family ||
		       !sock_local_addr(r, &got) || !ho_same_addr(&got, ss))) {
		snprintf(msg, mlen, "pid %d sent a socket that is not %s: refused", from, key);
		sys_close(r);
		r = -1;
	}
	if (r < 0) {
		char why[700];
		snprintf(why, sizeof why, "handoff: %s", msg);
		snprintf(msg, mlen, "%s", why);
		errno = saved;
		return NULL;
	}
	nk = c->host->install(c, r, note, sizeof note);
	if (!nk) {
		snprintf(msg, mlen, "handoff: received %s from pid %d but could not install it at fd %d: %s",
			 key, from, fd, strerror(errno));
		errno = saved;
		return NULL;
	}
	snprintf(msg, mlen, "handoff: took over %s from pid %d (same uid %u), installed at fd %d; both instances serve it until pid %d stops%s",
		 key, from, (unsigned)uid, fd, from, note);
	ho_report("taken", nk->proto, ss, from);
	errno = saved;
	return nk;
}

/* ---- socket activation -------------------------------------------------- */

/*
 * read_activation - LISTEN_FDS/LISTEN_PID (sd_listen_fds(3)): remember the
 * INET TCP/UDP sockets passed to this very process, at fds 3..3+N-1. They
 * are left exactly as passed (numbers, flags, environment): a program that
 * uses them itself still can.
 */
void ho_read_activation(void)
{
	const char *pid = config_env("LISTEN_PID"), *fds = config_env("LISTEN_FDS");
	char *end;
	long n, p;

	if (!pid || !fds)
		return;
	p = strtol(pid, &end, 10);
	if (*end || p != (long)sys_getpid())
		return;
	n = strtol(fds, &end, 10);
	if (*end || n <= 0)
		return;
	for (int fd = 3; fd < 3 + n && handoff_nact < ACT_MAX; fd++) {
		int family = 0;
		unsigned proto = sock_proto_of_fd(fd, &family);
		if (!proto || !sock_local_addr(fd, &act[handoff_nact].ss))
			continue;
		act[handoff_nact].fd = fd;
		act[handoff_nact].ino = ho_ino_of(fd);
		act[handoff_nact].proto = (uint8_t)proto;
		handoff_nact++;
	}
}

/*
 * handoff_adopt - before the program's bind() of fd to ss: a passed socket
 * of the same kind holding that very address is installed at fd instead,
 * and its passed number closed (install closes it). Returns the new record, or NULL (bind as
 * usual). One compare when nothing was passed.
 */
struct reuse_sock *handoff_adopt(struct reuse_call *c, const struct sockaddr_storage *ss,
				 char *msg, size_t mlen)
{
	const struct reuse_sock *k = c->k;
	struct reuse_sock *nk = NULL;
	int fd = c->fd;
	char key[96], note[160];
	int saved = errno, family = 0, from = -1;

	if (!__atomic_load_n(&handoff_nact, __ATOMIC_RELAXED))
		return NULL;
	reuse_lock();
	for (int i = 0; i < handoff_nact; i++) {
		if (act[i].proto != k->proto || !ho_same_addr(&act[i].ss, ss))
			continue;
		if (ho_ino_of(act[i].fd) != act[i].ino ||
		    sock_proto_of_fd(act[i].fd, &family) != k->proto || family != k->family) {
			act[i] = act[--handoff_nact];            /* closed by the program */
			i--;
			continue;
		}
		from = act[i].fd;
		act[i] = act[--handoff_nact];
		break;
	}
	reuse_unlock();
	if (from < 0) {
		errno = saved;
		return NULL;
	}
	ho_endpoint_name(k->proto, ss, key, sizeof key);
	nk = c->host->install(c, from, note, sizeof note);
	if (nk)
		snprintf(msg, mlen, "socket activation: adopted the passed socket %s (fd %d, LISTEN_FDS) at fd %d%s",
			 key, from, fd, note);
	errno = saved;
	return nk;
}
