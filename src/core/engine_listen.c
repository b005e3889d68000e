/*
 * engine_listen.c - listen(): the kernel checks the port again here, and
 * SO_REUSEPORT cleared after it is too late (the bind bucket caches it),
 * so the rule's options are asserted once more before the call; a socket
 * never decided (unbound, or bound before the engine saw it) is decided
 * now.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "core/sys.h"

/*
 * listen_done - after the listen(): explain an EADDRINUSE, log at `need`
 * (a failure always at decisions), leave errno as the call did.
 */
static int listen_done(struct reuse_call *c, int ret, int saved, const char *note,
		       unsigned need)
{
	struct reuse_sock *k = c->k;
	struct reuse_subject subj;
	struct sockaddr_storage ss;
	char msg[1600];
	int err = ret < 0 ? saved : 0;

	if (err)
		need = REUSE_LOG_DECISIONS;
	if (!wants(k->log, need)) {
		errno = saved;
		return ret;
	}
	if (!sock_local_addr(c->sock, &ss))
		ss.ss_family = 0;
	if (err == EADDRINUSE && ss.ss_family) {
		int retried;
		struct explain_seen seen;
		eng_subject(c, &ss, &subj);
		eng_in_use(c, NULL, 0, &subj, NULL, true, msg, sizeof msg, &retried, &err,
			   &seen);
		explain_detail(c->sock, &subj, &seen, msg, sizeof msg);
		note = msg;
	}
	eng_log(c, "listen", ss.ss_family ? &ss : NULL, err, NULL, note);
	errno = saved;
	return ret;
}


/* listen_slow - engine_listen for everything but the common case. */
static __attribute__((noinline)) int listen_slow(struct reuse_call *c, int backlog)
{
	struct reuse_sock *k = c->k;
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	struct reuse_plan plan;
	const struct reuse_rule *r;
	const char *note = NULL, *shared;
	char msg[1600], both[1900];
	unsigned need = REUSE_LOG_ALL;
	int ret, err, saved;
	struct timespec t0;
	bool excl;

	if (k->rule == SOCK_UNDECIDED) {
		if (!sock_local_addr(c->sock, &ss) || !((struct sockaddr_in *)&ss)->sin_port) {
			/* a bind made here would not be the program's (another
			 * host's judgement): the kernel binds, the next call decides */
			if (!c->can_call_here) {
				errno = c->entry_errno;
				return REUSE_PASS;
			}
			/* the kernel would bind the wildcard, port 0: do it first,
			 * so the rule is chosen and applied before listening */
			memset(&ss, 0, sizeof ss);
			ss.ss_family = k->family;
			c->host->bind(c, (struct sockaddr *)&ss, k->family == AF_INET ?
				      sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			note = "listen() on an unbound socket: matched on the port the kernel chose";
		} else {
			note = "bound before libreuse saw it: decided at listen()";
		}
		if (!sock_local_addr(c->sock, &ss)) {
			errno = c->entry_errno;
			return REUSE_PASS;
		}
		k->bound = 1;
		err = eng_decide_at_bind(c, &ss, &subj, &plan);
		need = REUSE_LOG_DECISIONS;
		if (err) {
			if (wants(k->log, need))
				eng_log(c, "listen", &ss, err, NULL, note);
			errno = err;
			return -1;
		}
		k->exclusive = plan.exclusive && !dry(plan.rule);
	} else if ((r = sock_rule(k)) && !dry(r)) {
		if (!eng_plan_kept(k, &plan))
			eng_plan_for(r, k, &plan);
		if ((plan.ra >= 0 && sys_getflag(c->sock, SO_REUSEADDR) != plan.ra) ||
		    (plan.rp >= 0 && sys_getflag(c->sock, SO_REUSEPORT) != plan.rp)) {
			eng_set_flag(c->sock, SO_REUSEADDR, plan.ra);
			eng_set_flag(c->sock, SO_REUSEPORT, plan.rp);
			note = "options changed behind libreuse since bind(): re-applied the rule before listen()";
			need = REUSE_LOG_DECISIONS;
		}
	}
	if (!c->can_call_here) {
		k->listening = 1;
		if (wants(k->log, need))
			eng_log(c, "listen", NULL, 0, "continued", eng_continued_note(c));
		return REUSE_PASS;
	}
	/*
	 * An exclusive listener holds SO_REUSEADDR once it listens: on Linux
	 * that lets nobody bind over a listening socket, and the TIME_WAIT
	 * entries its connections leave carry it, so the next exclusive run
	 * passes them (eng_in_use). A socket that passed such entries needs
	 * it for listen() itself, which checks them again: the window is the
	 * listen() call, measured.
	 */
	excl = k->exclusive && (r = sock_rule(k)) && r->exclusive;
	if (excl && k->tw_pass) {
		sys_setflag(c->sock, SO_REUSEADDR, 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
	}
	ret = c->host->listen(c, backlog);
	saved = errno;
	err = ret < 0 ? saved : 0;
	if (excl) {
		long us = k->tw_pass ? eng_since_us(&t0) : 0;
		sys_setflag(c->sock, SO_REUSEADDR, ret == 0);
		if (ret == 0 && !note) {
			snprintf(msg, sizeof msg, k->tw_pass ?
				 "exclusive: SO_REUSEADDR lent for listen() past TIME_WAIT (%ld us) and kept: a listening socket's SO_REUSEADDR lets nobody bind over it, and its TIME_WAIT entries will let the next exclusive run bind" :
				 "exclusive: SO_REUSEADDR on from listen() on: a listening socket's SO_REUSEADDR lets nobody bind over it, and its TIME_WAIT entries will let the next exclusive run bind",
				 us);
			note = msg;
			need = REUSE_LOG_DECISIONS;
		}
	}
	if (ret == 0)
		k->listening = 1;
	if (ret == 0 && (r = sock_rule(k)) && r->reuseport == REUSE_FORCE && !r->exclusive &&
	    !dry(r) && wants(k->log, REUSE_LOG_DECISIONS) && (shared = handoff_migrate_note())) {
		snprintf(both, sizeof both, "%.1500s%s%s", note ? note : "", note ? "; " : "",
			 shared);
		note = both;
		need = REUSE_LOG_DECISIONS;
	}
	ret = listen_done(c, ret, saved, note, need);
	if (ret == 0)
		errno = c->entry_errno;
	return ret;
}

/* engine_listen_failed - the plain listen() failed (ret, err): explained
 * and logged as any failure; errno err. */
int engine_listen_failed(struct reuse_call *c, int ret, int err)
{
	if (c->k->listening || c->k->proto != REUSE_P_TCP) {
		errno = err;
		return ret;
	}
	return listen_done(c, ret, err, NULL, REUSE_LOG_DECISIONS);
}

/* engine_listen - engine_listen_plain's case, or listen_slow. */
int engine_listen(struct reuse_call *c, int backlog)
{
	struct reuse_sock *k = c->k;

	if (k->rule == SOCK_UNDECIDED && !k->listening)
		k->listening = sys_getflag(c->sock, SO_ACCEPTCONN) > 0;
	if (k->listening || k->proto != REUSE_P_TCP)
		return REUSE_PASS;
	if (c->can_call_here && engine_listen_plain(k)) {
		int ret = c->host->listen(c, backlog);

		if (ret == 0) {
			k->listening = 1;
			errno = c->entry_errno;
			return 0;
		}
		return listen_done(c, ret, errno, NULL, REUSE_LOG_DECISIONS);
	}
	return listen_slow(c, backlog);
}

/*
 * engine_shutdown - after a successful shutdown(SHUT_RD or SHUT_RDWR) of a
 * listener: it no longer listens but keeps its port, and the SO_REUSEADDR
 * an exclusive listener holds (see listen_slow) would now let anyone with
 * SO_REUSEADDR bind beside it and listen. It is taken back, as the program
 * had it without libreuse.
 */
void engine_shutdown(struct reuse_call *c)
{
	struct reuse_sock *k = c->k;
	int saved = errno;

	if (!k->listening || k->proto != REUSE_P_TCP ||
	    sys_getflag(c->sock, SO_ACCEPTCONN) > 0)
		return;
	k->listening = 0;
	if (k->exclusive) {
		sys_setflag(c->sock, SO_REUSEADDR, 0);
		if (wants(k->log, REUSE_LOG_DECISIONS))
			eng_log(c, "shutdown", NULL, 0, NULL,
				"exclusive listener shut down: it keeps its port but no longer listens; SO_REUSEADDR taken back so nobody can bind beside it");
	}
	errno = saved;
}
