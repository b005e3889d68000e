/*
 * engine_opts.c - setsockopt() and getsockopt() of SO_REUSEADDR and
 * SO_REUSEPORT once a socket's rule is chosen, and connect(), which binds
 * a socket the program never bound.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/engine.h"
#include "core/sys.h"

/*
 * hold - an option of an unbound UDP socket kept in the record until its
 * bind is decided (eng_hold says when and why). On the first, the record
 * takes both options from the kernel, which then holds neither.
 */
static int hold(struct reuse_call *c, bool is_rp, bool on)
{
	struct reuse_sock *k = c->k;

	if (!k->held) {
		k->asked_ra = sys_getflag(c->sock, SO_REUSEADDR) > 0;
		k->asked_rp = sys_getflag(c->sock, SO_REUSEPORT) > 0;
		eng_set_flag(c->sock, SO_REUSEADDR, 0);
		eng_set_flag(c->sock, SO_REUSEPORT, 0);
		k->held = 1;
	}
	*(is_rp ? &k->asked_rp : &k->asked_ra) = on;
	if (reuse_cfg.level == REUSE_LOG_ALL)
		eng_log(c, "setsockopt", NULL, 0, NULL, is_rp ?
			"SO_REUSEPORT held until the socket's bind is decided (a first send would bind it unseen)" :
			"SO_REUSEADDR held until the socket's bind is decided (a first send would bind it unseen)");
	errno = c->entry_errno;
	return 0;
}

/*
 * engine_setsockopt - before the rule is chosen the value goes to the
 * kernel untouched (the bind reads it from there); after, the rule decides
 * (decide.c): refused, held (success without reaching the kernel), or made
 * through the host. The program's wish is remembered so getsockopt()
 * shows it its own view.
 */
int engine_setsockopt(struct reuse_call *c, int level, int name, uint64_t val,
		      socklen_t len)
{
	struct reuse_sock *k = c->k;
	const struct reuse_rule *r;
	bool is_rp = name == SO_REUSEPORT, to_kernel;
	int v = 0, ret, err, saved;
	char note[160];

	eng_held_bound(c);
	if (k->rule == SOCK_UNDECIDED && k->bound)
		eng_first_sight(c);
	if (k->rule == SOCK_UNDECIDED && len >= (socklen_t)sizeof(int) && eng_hold(c) &&
	    c->host->copy_in(c, &v, val, sizeof v))
		return hold(c, is_rp, v != 0);
	if (k->rule == SOCK_UNDECIDED || len < (socklen_t)sizeof(int) ||
	    !c->host->copy_in(c, &v, val, sizeof v))
		return REUSE_PASS;
	r = sock_rule(k);
	err = reuse_decide_setopt(r, is_rp, v != 0, &to_kernel);
	if (dry(r) && (err || !to_kernel)) {
		/* a dry run logs what the rule would do, and passes the call;
		 * result= is the kernel's answer, which the program gets */
		ret = sys_setsockopt(c->sock, level, name, &v, sizeof v);
		saved = errno;
		if (wants(k->log, REUSE_LOG_DECISIONS)) {
			snprintf(note, sizeof note, "program set %s=%d after bind(): would be %s (dry run: passed to the kernel)",
				 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", v != 0,
				 err ? "refused" : "held by the rule");
			eng_log(c, "setsockopt", NULL, ret < 0 ? saved : 0, NULL, note);
		}
		if (ret < 0) {
			errno = saved;
			return -1;
		}
		*(is_rp ? &k->asked_rp : &k->asked_ra) = v != 0;
		if (c->host->asked_changed)
			c->host->asked_changed(c);
		errno = c->entry_errno;
		return 0;
	}
	if (err) {
		if (wants(k->log, REUSE_LOG_DECISIONS)) {
			snprintf(note, sizeof note, "program set %s=%d after bind(): refused",
				 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", v != 0);
			eng_log(c, "setsockopt", NULL, err, NULL, note);
		}
		errno = err;
		return -1;
	}
	saved = c->entry_errno;
	ret = 0;
	if (to_kernel) {
		ret = sys_setsockopt(c->sock, level, name, &v, sizeof v);
		saved = ret < 0 ? errno : c->entry_errno;
	}
	err = ret < 0 ? saved : 0;
	if (ret == 0) {
		*(is_rp ? &k->asked_rp : &k->asked_ra) = v != 0;
		if (c->host->asked_changed)
			c->host->asked_changed(c);
	}
	if (wants(k->log, to_kernel ? REUSE_LOG_ALL : REUSE_LOG_DECISIONS)) {
		snprintf(note, sizeof note, "program set %s=%d after bind(): %s",
			 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", v != 0,
			 to_kernel ? "passed to the kernel" : "held by the rule");
		eng_log(c, "setsockopt", NULL, err, NULL, note);
	}
	errno = saved;
	return ret;
}

/*
 * engine_getsockopt - a decided socket answers what the program asked
 * for, so `strip` and `force` stay invisible to it; the log shows the
 * kernel's truth. The kernel's own answer comes first (its errors for a
 * bad pointer or length); the value is then written over it, as long as
 * the kernel's.
 */
int engine_getsockopt(struct reuse_call *c, int level, int name, uint64_t val,
		      uint64_t lenp)
{
	struct reuse_sock *k = c->k;
	struct reuse_plan plan;
	int asked, ret, err;
	socklen_t n;

	eng_held_bound(c);
	if (k->rule == SOCK_UNDECIDED && k->bound)
		eng_first_sight(c);
	if (k->rule < 0 && !(k->rule == SOCK_UNDECIDED && k->held))
		return REUSE_PASS;
	ret = c->host->getsockopt(c, level, name, val, lenp);
	err = errno;
	/* an option the rule's plan left alone is the kernel's to answer: it
	 * holds what the program set, through whichever fd it set it */
	if (ret == 0 && eng_plan_kept(k, &plan) && (name == SO_REUSEPORT ? plan.rp : plan.ra) < 0) {
		if (wants(k->log, REUSE_LOG_ALL))
			eng_log(c, "getsockopt", NULL, 0, NULL, name == SO_REUSEPORT ?
				"answered SO_REUSEPORT from the kernel: the rule leaves it to the program" :
				"answered SO_REUSEADDR from the kernel: the rule leaves it to the program");
		goto out;
	}
	if (ret < 0 || !c->host->copy_in(c, &n, lenp, sizeof n))
		goto out;
	asked = name == SO_REUSEPORT ? k->asked_rp : k->asked_ra;
	if (n > sizeof asked)
		n = sizeof asked;
	c->host->copy_out(c, val, &asked, n);
	if (wants(k->log, REUSE_LOG_ALL))
		eng_log(c, "getsockopt", NULL, 0, NULL, name == SO_REUSEPORT ?
			"answered SO_REUSEPORT as the program asked" :
			"answered SO_REUSEADDR as the program asked");
out:
	errno = ret < 0 ? err : c->entry_errno;
	return ret;
}

/*
 * engine_connected - after the program's connect() (ret, err): a socket
 * never bound got its local address from the kernel there. Match it for
 * the record (later setsockopt calls follow the rule); its options are
 * left alone, the kernel already chose. A client connection is not a
 * decision: it is logged at `all` only.
 */
void engine_connected(struct reuse_call *c, int ret, int err)
{
	struct reuse_sock *k = c->k;
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	const struct reuse_rule *r = NULL;
	bool ok = ret == 0 || err == EINPROGRESS;

	if (k->rule != SOCK_UNDECIDED || k->bound || !sock_local_addr(c->sock, &ss) ||
	    !((struct sockaddr_in *)&ss)->sin_port)
		return;
	eng_subject(c, &ss, &subj);
	if (!reuse_cfg.fail_closed)
		r = reuse_policy_match(&reuse_cfg.policy, &subj);
	k->rule = r ? (int32_t)(r - reuse_cfg.policy.rules) : SOCK_UNMATCHED;
	k->log = r ? r->log : reuse_cfg.level == REUSE_LOG_ALL ? REUSE_LOG_ALL
							      : REUSE_LOG_OFF;
	if (wants(k->log, REUSE_LOG_ALL))
		eng_log(c, "connect", &ss, ret == 0 ? 0 : err,
			err == EINPROGRESS ? "in-progress" : NULL, ok ?
			"implicit bind by connect(): options left as they were" :
			"connect() failed: the kernel released its implicit bind");
	/* a failed connect leaves the socket unbound: decide again later */
	k->bound = ok;
	if (!ok)
		k->rule = SOCK_UNDECIDED;
}

/*
 * engine_autobind - the program's first send on an unbound UDP socket
 * would bind it to the wildcard address and a port the kernel picks, with
 * no bind() for the policy to decide (and under no-hijack another uid
 * could then bind that port and take the replies). The engine makes that
 * very bind first, through the host, and decides on the port chosen as it
 * would at bind(). Nothing happens for a socket that is bound already.
 */
void engine_autobind(struct reuse_call *c)
{
	struct reuse_sock *k = c->k;
	struct sockaddr_storage ss;
	int saved = errno;

	if (k->proto != REUSE_P_UDP || k->rule != SOCK_UNDECIDED)
		return;
	if (sock_local_addr(c->sock, &ss) && ((struct sockaddr_in *)&ss)->sin_port) {
		k->bound = 1;
		return;
	}
	memset(&ss, 0, sizeof ss);
	ss.ss_family = k->family;
	if (c->host->bind(c, (struct sockaddr *)&ss, k->family == AF_INET ?
			  sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0) {
		k->bound = 1;
		eng_decide_bound(c, "first send on an unbound socket: bound where the kernel would have");
	}
	errno = saved;
}
