/*
 * test_decide.c - the decision engine (src/core/decide.c).
 *
 * The expected values come from two small tables stating what one option
 * does under each action (as the comments in decide.c and the spec say);
 * the tests walk every combination of both options, what the program
 * asked, and the rule's flags, and compare with the engine.
 */
#include <errno.h>
#include <string.h>

#include "libreuse.h"
#include "tap.h"
#include "unit.h"

static const char *const act[] = { "keep", "force", "strip", "refuse" };

/* At bind(): one option under one action, given what the program asked. */
static const struct {
	unsigned act;
	bool asked;
	int kernel;              /* -1 leave, 0 off, 1 on */
	int err;
} at_bind[] = {
	{ REUSE_KEEP, false, -1, 0 },
	{ REUSE_KEEP, true, -1, 0 },
	{ REUSE_FORCE, false, 1, 0 },
	{ REUSE_FORCE, true, 1, 0 },
	{ REUSE_STRIP, false, 0, 0 },
	{ REUSE_STRIP, true, 0, 0 },
	{ REUSE_REFUSE, false, -1, 0 },
	{ REUSE_REFUSE, true, -1, EPERM },
};

/* At setsockopt() after the rule is chosen: one option under one action. */
static const struct {
	unsigned act;
	bool value;
	int ret;
	bool to_kernel;
} at_setopt[] = {
	{ REUSE_KEEP, false, 0, true },
	{ REUSE_KEEP, true, 0, true },
	{ REUSE_FORCE, false, 0, false },
	{ REUSE_FORCE, true, 0, false },
	{ REUSE_STRIP, false, 0, false },
	{ REUSE_STRIP, true, 0, false },
	{ REUSE_REFUSE, false, 0, true },
	{ REUSE_REFUSE, true, EPERM, false },
};

#define NB (sizeof at_bind / sizeof at_bind[0])
#define NS (sizeof at_setopt / sizeof at_setopt[0])

static struct reuse_rule rule(unsigned ra, unsigned rp, unsigned log)
{
	struct reuse_rule r;
	memset(&r, 0, sizeof r);
	r.proto = REUSE_P_TCP;
	r.uid = -1;
	r.reuseaddr = (uint8_t)ra;
	r.reuseport = (uint8_t)rp;
	r.log = (uint8_t)log;
	return r;
}

/* bind with a rule: a plan poisoned first, so every field must be written. */
static struct reuse_plan bind_plan_as(const struct reuse_rule *r, bool ara, bool arp,
				      unsigned proto, bool can_key)
{
	struct reuse_plan p;
	struct reuse_ask ask = { .ra = ara, .rp = arp, .proto = proto, .can_key = can_key };
	memset(&p, 0x5a, sizeof p);
	reuse_decide_bind(r, &ask, &p);
	return p;
}

static struct reuse_plan bind_plan(const struct reuse_rule *r, bool ara, bool arp)
{
	return bind_plan_as(r, ara, arp, REUSE_P_TCP, false);
}

/* Every pair of option rows: each option follows its own action. */
static void test_bind_actions(void)
{
	unsigned k = 0;
	for (size_t i = 0; i < NB; i++) {
		for (size_t j = 0; j < NB; j++) {
			unsigned log = k++ % 3;
			struct reuse_rule r = rule(at_bind[i].act, at_bind[j].act, log);
			struct reuse_plan p = bind_plan(&r, at_bind[i].asked, at_bind[j].asked);
			int err = at_bind[i].err ? at_bind[i].err : at_bind[j].err;
			ok(p.rule == &r && p.ra == at_bind[i].kernel && p.rp == at_bind[j].kernel &&
			   p.err == err && p.log == log,
			   "bind reuseaddr=%s (asked %d) reuseport=%s (asked %d): ra %d rp %d err %d",
			   act[at_bind[i].act], at_bind[i].asked, act[at_bind[j].act],
			   at_bind[j].asked, at_bind[i].kernel, at_bind[j].kernel, err);
		}
	}
}

/* deny wins over everything; exclusive holds both options off. */
static void test_bind_flags(void)
{
	for (unsigned ra = 0; ra < 4; ra++) {
		for (unsigned rp = 0; rp < 4; rp++) {
			for (unsigned asked = 0; asked < 4; asked++) {
				struct reuse_rule r = rule(ra, rp, REUSE_LOG_ALL);
				r.deny = true;
				r.exclusive = asked & 1;       /* deny wins over exclusive too */
				struct reuse_plan p = bind_plan(&r, asked & 1, asked & 2);
				ok(p.rule == &r && p.err == EACCES && p.ra == -1 && p.rp == -1 &&
				   p.log == REUSE_LOG_ALL,
				   "bind deny%s reuseaddr=%s reuseport=%s asked %u: EACCES",
				   r.exclusive ? " exclusive" : "", act[ra], act[rp], asked);

				r = rule(ra, rp, REUSE_LOG_OFF);
				r.exclusive = true;
				r.handoff = asked & 2;
				p = bind_plan_as(&r, asked & 1, false, REUSE_P_UDP, false);
				ok(p.rule == &r && p.err == 0 && p.ra == 0 && p.rp == 0 &&
				   p.log == REUSE_LOG_OFF && p.exclusive && !p.key && !p.joinable,
				   "bind exclusive reuseaddr=%s reuseport=%s asked %u: both off",
				   act[ra], act[rp], asked & 1);
			}
		}
	}
}

/*
 * exclusive and a program that asked SO_REUSEPORT (sharing among its own
 * sockets): keyed when the process may chown, else UDP drops it (own binds
 * borrow it) and TCP keeps it, said to be joinable.
 */
static void test_bind_exclusive(void)
{
	static const struct {
		unsigned proto;
		bool can_key, asked_rp;
		int rp;
		bool key, joinable;
	} t[] = {
		{ REUSE_P_TCP, false, false, 0, false, false },
		{ REUSE_P_TCP, true, false, 0, false, false },
		{ REUSE_P_UDP, false, false, 0, false, false },
		{ REUSE_P_UDP, true, false, 0, false, false },
		{ REUSE_P_TCP, true, true, 1, true, false },
		{ REUSE_P_UDP, true, true, 1, true, false },
		{ REUSE_P_TCP, false, true, 1, false, true },
		{ REUSE_P_UDP, false, true, 0, false, false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		for (int ara = 0; ara < 2; ara++) {
			struct reuse_rule r = rule(REUSE_KEEP, REUSE_KEEP, REUSE_LOG_DECISIONS);
			r.exclusive = true;
			struct reuse_plan p = bind_plan_as(&r, ara, t[i].asked_rp, t[i].proto,
							   t[i].can_key);
			ok(p.err == 0 && p.ra == 0 && p.rp == t[i].rp && p.key == t[i].key &&
			   p.joinable == t[i].joinable && p.exclusive,
			   "bind exclusive %s can_key %d asked ra %d rp %d: ra 0 rp %d key %d joinable %d",
			   t[i].proto == REUSE_P_TCP ? "tcp" : "udp", t[i].can_key, ara,
			   t[i].asked_rp, t[i].rp, t[i].key, t[i].joinable);
		}
	}
	struct reuse_rule r = rule(REUSE_FORCE, REUSE_KEEP, REUSE_LOG_DECISIONS);
	struct reuse_plan p = bind_plan_as(&r, true, true, REUSE_P_UDP, true);
	ok(!p.key && !p.joinable && !p.exclusive,
	   "bind without exclusive or reuseport=force: no key, not exclusive");
}

/*
 * reuseport=force: instances share the port. Keyed when the process may
 * chown (strangers of the uid cannot join), else said to be joinable;
 * whatever the program asked, whatever reuseaddr says, both protocols.
 * deny and a refused reuseaddr stop it; exclusive decides alone.
 */
static void test_bind_shared(void)
{
	for (unsigned proto = REUSE_P_TCP; proto <= REUSE_P_UDP; proto++) {
		for (unsigned ra = 0; ra < 4; ra++) {
			for (unsigned asked = 0; asked < 4; asked++) {
				for (int can_key = 0; can_key < 2; can_key++) {
					struct reuse_rule r = rule(ra, REUSE_FORCE, REUSE_LOG_DECISIONS);
					struct reuse_plan p = bind_plan_as(&r, asked & 1, asked & 2,
									   proto, can_key);
					bool refused = ra == REUSE_REFUSE && (asked & 1);
					ok(p.rp == 1 && !p.exclusive &&
					   p.key == (can_key && !refused) &&
					   p.joinable == (!can_key && !refused) &&
					   p.err == (refused ? EPERM : 0),
					   "bind %s reuseaddr=%s reuseport=force asked %u can_key %d: rp 1 key %d joinable %d",
					   proto == REUSE_P_TCP ? "tcp" : "udp", act[ra], asked, can_key,
					   can_key && !refused, !can_key && !refused);
				}
			}
		}
	}
	for (unsigned rp = 0; rp < 4; rp++) {
		struct reuse_rule r = rule(REUSE_KEEP, rp, REUSE_LOG_DECISIONS);
		struct reuse_plan p = bind_plan_as(&r, false, true, REUSE_P_TCP, true);
		ok(p.key == (rp == REUSE_FORCE) && !p.joinable,
		   "bind reuseport=%s can_key: key %d", act[rp], rp == REUSE_FORCE);
		ok(reuse_may_key(&r, false) == (rp == REUSE_FORCE),
		   "may_key reuseport=%s asked rp 0: %d", act[rp], rp == REUSE_FORCE);
		r.deny = true;
		p = bind_plan_as(&r, false, true, REUSE_P_TCP, true);
		ok(!p.key && !p.joinable && p.err == EACCES && !reuse_may_key(&r, true),
		   "bind deny reuseport=%s: no key", act[rp]);
		r.deny = false;
		r.exclusive = true;
		ok(reuse_may_key(&r, true) && !reuse_may_key(&r, false),
		   "may_key exclusive reuseport=%s: only when the program asked", act[rp]);
	}
	ok(!reuse_may_key(NULL, true), "may_key without a rule: no");
}

static void test_bind_misc(void)
{
	for (unsigned asked = 0; asked < 4; asked++) {
		struct reuse_plan p = bind_plan(NULL, asked & 1, asked & 2);
		ok(p.rule == NULL && p.ra == -1 && p.rp == -1 && p.err == 0 &&
		   p.log == REUSE_LOG_OFF, "bind without a rule, asked %u: untouched", asked);
	}
	for (unsigned log = 0; log < 3; log++) {
		struct reuse_rule r = rule(REUSE_KEEP, REUSE_KEEP, log);
		struct reuse_plan p = bind_plan(&r, true, true);
		ok(p.log == log && p.err == 0, "bind log=%s is the plan's level",
		   reuse_level_name(log));
	}
	struct reuse_rule r = rule(REUSE_KEEP, REUSE_KEEP, REUSE_LOG_DECISIONS);
	r.handoff = true;
	struct reuse_plan p = bind_plan(&r, true, false);
	ok(p.ra == -1 && p.rp == -1 && p.err == 0, "bind handoff alone changes no option");
}

/* setsockopt on one option, whatever the other option's action. */
static void test_setopt_actions(void)
{
	for (int is_rp = 0; is_rp < 2; is_rp++) {
		for (size_t i = 0; i < NS; i++) {
			for (unsigned other = 0; other < 4; other++) {
				unsigned a = at_setopt[i].act;
				struct reuse_rule r = is_rp ? rule(other, a, REUSE_LOG_ALL)
							    : rule(a, other, REUSE_LOG_ALL);
				bool to_kernel = !at_setopt[i].to_kernel;
				int ret = reuse_decide_setopt(&r, is_rp, at_setopt[i].value, &to_kernel);
				ok(ret == at_setopt[i].ret && to_kernel == at_setopt[i].to_kernel,
				   "setopt %s=%s (other %s) value %d: ret %d to_kernel %d",
				   is_rp ? "reuseport" : "reuseaddr", act[a], act[other],
				   at_setopt[i].value, at_setopt[i].ret, at_setopt[i].to_kernel);
			}
		}
	}
}

static void test_setopt_flags(void)
{
	for (int is_rp = 0; is_rp < 2; is_rp++) {
		for (unsigned a = 0; a < 4; a++) {
			for (int value = 0; value < 2; value++) {
				struct reuse_rule r = rule(a, a, REUSE_LOG_DECISIONS);
				r.exclusive = true;
				bool to_kernel = true;
				int ret = reuse_decide_setopt(&r, is_rp, value, &to_kernel);
				ok(ret == 0 && !to_kernel,
				   "setopt exclusive %s=%s value %d: held, success",
				   is_rp ? "reuseport" : "reuseaddr", act[a], value);
			}
		}
		for (int value = 0; value < 2; value++) {
			bool to_kernel = false;
			int ret = reuse_decide_setopt(NULL, is_rp, value, &to_kernel);
			ok(ret == 0 && to_kernel, "setopt without a rule, %s value %d: passed on",
			   is_rp ? "reuseport" : "reuseaddr", value);
		}
	}
}

static void test_names(void)
{
	static const char *const levels[] = { "off", "decisions", "all" };
	for (unsigned a = 0; a < 4; a++)
		ok(strcmp(reuse_act_name(a), act[a]) == 0, "reuse_act_name(%u) is %s", a, act[a]);
	ok(strcmp(reuse_act_name(4), "?") == 0 && strcmp(reuse_act_name(~0u), "?") == 0,
	   "reuse_act_name out of range is ?");
	for (unsigned l = 0; l < 3; l++)
		ok(strcmp(reuse_level_name(l), levels[l]) == 0, "reuse_level_name(%u) is %s", l,
		   levels[l]);
	ok(strcmp(reuse_level_name(3), "?") == 0, "reuse_level_name out of range is ?");
}

void test_decide(void)
{
	diag("decide: bind");
	test_bind_actions();
	test_bind_flags();
	test_bind_exclusive();
	test_bind_shared();
	test_bind_misc();
	diag("decide: setsockopt");
	test_setopt_actions();
	test_setopt_flags();
	diag("decide: names");
	test_names();
}
