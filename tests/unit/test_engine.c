/*
 * test_engine.c - the policy engine (src/core/engine*.c) through a fake
 * host (core/host.h): real loopback sockets the test opens, a bind() and
 * listen() that note the kernel's options at the moment the host is asked
 * to make the call, and the log captured line by line (logcap.c).
 *
 * The expected values come from the policy language's table (reuseaddr=/
 * reuseport= keep|force|strip|refuse, exclusive, deny, dry-run, log=), as
 * tests/directives.bats states them for real programs; here every
 * combination of directive, what the program asked before bind(), proto
 * and family runs in-process in a few milliseconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sys.h"
#include "fakehost.h"
#include "tap.h"
#include "unit.h"

static bool have_chown;
static const char *const acts[4] = { "keep", "force", "strip", "refuse" };

/*
 * One option under one action at bind(), the other option left alone:
 * every proto, family, and what the program asked of both options.
 */
static void option_table(bool is_rp, unsigned act)
{
	char text[96], want[1200], what[160], note[700];
	const char *opt = is_rp ? "reuseport" : "reuseaddr";

	snprintf(text, sizeof text, "any *:* %s=%s\n", opt, acts[act]);
	unit_policy(text, pol, sizeof pol);
	for (int p = 0; p < 2; p++)
		for (int fi = 0; fi < 2; fi++)
			for (int asked = 0; asked < 2; asked++)
				for (int other = 0; other < 2; other++) {
	unsigned proto = protos[p];
	int fam = fams[fi];
	bool ra = is_rp ? other : asked, rp = is_rp ? asked : other;
	int k_opt = act == REUSE_FORCE ? 1 : act == REUSE_STRIP ? 0 : asked;
	bool refused = act == REUSE_REFUSE && asked;
	int want_ra = is_rp ? other : k_opt, want_rp = is_rp ? k_opt : other;
	/* reuseport=force keys the group with CAP_CHOWN, else says joinable */
	bool keyed = is_rp && act == REUSE_FORCE && have_chown;
	/* a keyed UDP group drops SO_REUSEADDR: it would admit every uid */
	bool drops_ra = keyed && proto == REUSE_P_UDP;
	unsigned me = (unsigned)geteuid();
	struct reuse_plan kept;
	struct reuse_call c;
	struct fake f;
	int fd = open_sock(fam, proto, ra, rp), ret, err;

	snprintf(what, sizeof what, "%s=%s %s %s asked=%d other=%d", opt, acts[act],
		 pname(proto), fam == AF_INET ? "v4" : "v6", asked, other);
	if (drops_ra)
		want_ra = 0;
	call_init(&c, &f, fd);
	ret = do_bind(&c, fam, 0);
	err = errno;
	if (refused) {
		ok(ret == -1 && err == EPERM, "%s: bind fails EPERM (%d, %s)", what, ret,
		   strerrorname_np(err));
		ok(f.binds == 0 && c.k->rule == SOCK_UNDECIDED && !c.k->bound,
		   "%s: no bind made, the socket left undecided", what);
		ok(flag(fd, SO_REUSEADDR) == ra && flag(fd, SO_REUSEPORT) == rp,
		   "%s: the options stay as the program set them", what);
	} else {
		ok(ret == 0 && err == SENTINEL, "%s: bind succeeds, errno untouched (%d, %s)",
		   what, ret, strerrorname_np(err));
		ok(f.binds == 1 && f.ra_at_bind == want_ra && f.rp_at_bind == want_rp,
		   "%s: the kernel held reuseaddr=%d reuseport=%d at bind (saw %d %d)", what,
		   want_ra, want_rp, f.ra_at_bind, f.rp_at_bind);
		ok(c.k->rule == 0 && c.k->bound && !c.k->exclusive && c.k->keyed == keyed &&
		   f.owner_at_bind == (keyed ? reuse_key_of(me) : me),
		   "%s: the record (rule %d bound %d excl %d keyed %d, owner %u)", what,
		   c.k->rule, c.k->bound, c.k->exclusive, c.k->keyed, f.owner_at_bind);
		ok(eng_plan_kept(c.k, &kept) &&
		   kept.ra == (drops_ra ? 0 : is_rp ? -1 : act == REUSE_FORCE ? 1 : act == REUSE_STRIP ? 0 : -1) &&
		   kept.rp == (is_rp ? act == REUSE_FORCE ? 1 : act == REUSE_STRIP ? 0 : -1 : -1),
		   "%s: the plan kept for listen() (%d %d)", what, kept.ra, kept.rp);
	}
	note[0] = '\0';
	if (is_rp && act == REUSE_FORCE && keyed)
		snprintf(note, sizeof note, " -- SO_REUSEPORT forced, keyed (owner uid %u): instances of uid %u under libreuse with CAP_CHOWN share the port, no other process can join",
			 reuse_key_of(me), me);
	else if (is_rp && act == REUSE_FORCE)
		snprintf(note, sizeof note, " -- SO_REUSEPORT forced: instances share the port, and so can any process of this uid (uid %u) can join: keying the group needs CAP_CHOWN when the socket is made; fix: start the program as that user with CAP_CHOWN (setpriv --inh-caps=+chown --ambient-caps=+chown, or systemd AmbientCapabilities=CAP_CHOWN); a daemon that switches user itself (named -u, memcached -u) can run as root under `reuse run --seccomp` instead, whose supervisor keys the group for it",
			 me);
	if (act == REUSE_KEEP)
		snprintf(want, sizeof want, "unitprog bind fd=%d %s %s rule=%s:1 option=SO_REUSEADDR,SO_REUSEPORT asked=%s,%s action=keep,keep result=ok now=reuseaddr:%s,reuseport:%s",
			 fd, pname(proto), where(fam), pol, onoff(ra), onoff(rp),
			 onoff(want_ra), onoff(want_rp));
	else
		snprintf(want, sizeof want, "unitprog bind fd=%d %s %s rule=%s:1 option=%s asked=%s action=%s result=%s now=reuseaddr:%s,reuseport:%s%s",
			 fd, pname(proto), where(fam), pol,
			 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", onoff(asked), acts[act],
			 refused ? "EPERM" : "ok", onoff(refused ? ra : want_ra),
			 onoff(refused ? rp : want_rp), note);
	line_is(want, what);
	close_sock(fd);
				}
}

/* exclusive: both options off at bind; SO_REUSEPORT asked is kept keyed
 * (CAP_CHOWN), kept joinable (TCP without it) or dropped (UDP). */
static void exclusive_table(void)
{
	unit_policy("any *:* exclusive\n", pol, sizeof pol);
	for (int p = 0; p < 2; p++)
		for (int fi = 0; fi < 2; fi++)
			for (int ra = 0; ra < 2; ra++)
				for (int rp = 0; rp < 2; rp++) {
	unsigned proto = protos[p];
	int fam = fams[fi];
	bool keyed = rp && have_chown, joinable = rp && !have_chown && proto == REUSE_P_TCP;
	int want_rp = keyed || joinable;
	char want[1200], what[120], note[700] = "";
	unsigned me = (unsigned)geteuid();

	if (keyed)
		snprintf(note, sizeof note, " -- exclusive; SO_REUSEPORT kept for the program's own sockets, keyed (owner uid %u): no other process can join",
			 reuse_key_of(me));
	else if (joinable)
		snprintf(note, sizeof note, " -- exclusive, but the program shares this port through SO_REUSEPORT: same-uid processes (uid %u) can join: keying the group needs CAP_CHOWN when the socket is made; fix: start the program as that user with CAP_CHOWN (setpriv --inh-caps=+chown --ambient-caps=+chown, or systemd AmbientCapabilities=CAP_CHOWN); a daemon that switches user itself (named -u, memcached -u) can run as root under `reuse run --seccomp` instead, whose supervisor keys the group for it",
			 me);
	else if (rp)
		snprintf(note, sizeof note, " -- exclusive: the SO_REUSEPORT the program asked was dropped (unkeyed, it would let other processes of uid %u join); the program's own overlapping binds borrow options for one bind()",
			 me);
	struct reuse_call c;
	struct fake f;
	int fd = open_sock(fam, proto, ra, rp), ret, err;

	snprintf(what, sizeof what, "exclusive %s %s ra=%d rp=%d", pname(proto),
		 fam == AF_INET ? "v4" : "v6", ra, rp);
	call_init(&c, &f, fd);
	ret = do_bind(&c, fam, 0);
	err = errno;
	ok(ret == 0 && err == SENTINEL, "%s: bind succeeds, errno untouched", what);
	ok(f.ra_at_bind == 0 && f.rp_at_bind == want_rp,
	   "%s: kernel at bind reuseaddr=0 reuseport=%d (saw %d %d)", what, want_rp,
	   f.ra_at_bind, f.rp_at_bind);
	ok(c.k->exclusive && c.k->keyed == keyed &&
	   f.owner_at_bind == (keyed ? reuse_key_of(me) : me),
	   "%s: record exclusive, keyed=%d", what, keyed);
	snprintf(want, sizeof want, "unitprog bind fd=%d %s %s rule=%s:1 option=SO_REUSEADDR,SO_REUSEPORT asked=%s,%s action=exclusive result=ok now=reuseaddr:off,reuseport:%s%s",
		 fd, pname(proto), where(fam), pol, onoff(ra), onoff(rp), onoff(want_rp), note);
	line_is(want, what);
	close_sock(fd);
				}
}

/* deny: EACCES, no bind made, options untouched, the socket undecided. */
static void deny_table(void)
{
	unit_policy("any *:* deny\n", pol, sizeof pol);
	for (int p = 0; p < 2; p++)
		for (int fi = 0; fi < 2; fi++)
			for (int ra = 0; ra < 2; ra++)
				for (int rp = 0; rp < 2; rp++) {
	unsigned proto = protos[p];
	int fam = fams[fi];
	char want[400], what[120];
	struct reuse_call c;
	struct fake f;
	int fd = open_sock(fam, proto, ra, rp), ret, err;

	snprintf(what, sizeof what, "deny %s %s ra=%d rp=%d", pname(proto),
		 fam == AF_INET ? "v4" : "v6", ra, rp);
	call_init(&c, &f, fd);
	ret = do_bind(&c, fam, 0);
	err = errno;
	ok(ret == -1 && err == EACCES && f.binds == 0, "%s: EACCES, no bind made", what);
	ok(c.k->rule == SOCK_UNDECIDED && flag(fd, SO_REUSEADDR) == ra &&
	   flag(fd, SO_REUSEPORT) == rp, "%s: undecided, options as asked", what);
	snprintf(want, sizeof want, "unitprog bind fd=%d %s %s rule=%s:1 option=SO_REUSEADDR,SO_REUSEPORT asked=%s,%s action=deny result=EACCES now=reuseaddr:%s,reuseport:%s",
		 fd, pname(proto), where(fam), pol, onoff(ra), onoff(rp), onoff(ra), onoff(rp));
	line_is(want, what);
	close_sock(fd);
				}
}

/* dry-run (the rule's, and REUSE_DRY_RUN's): the kernel sees what the
 * program asked, the line says what would have been done. */
static void dry_table(void)
{
	for (int global = 0; global < 2; global++) {
		unit_policy(global ? "any *:* reuseaddr=force reuseport=refuse\n" :
			    "any *:* reuseaddr=force reuseport=refuse dry-run\n", pol, sizeof pol);
		reuse_cfg.dry_run = global;
		for (int p = 0; p < 2; p++)
			for (int ra = 0; ra < 2; ra++)
				for (int rp = 0; rp < 2; rp++) {
	unsigned proto = protos[p];
	char want[400], what[120];
	struct reuse_call c;
	struct fake f;
	int fd = open_sock(AF_INET6, proto, ra, rp), ret, err;

	snprintf(what, sizeof what, "dry-run (%s) %s ra=%d rp=%d",
		 global ? "REUSE_DRY_RUN" : "rule", pname(proto), ra, rp);
	call_init(&c, &f, fd);
	ret = do_bind(&c, AF_INET6, 0);
	err = errno;
	/* a real run would refuse rp=1 with EPERM */
	ok(ret == 0 && err == SENTINEL, "%s: bind succeeds", what);
	ok(f.ra_at_bind == ra && f.rp_at_bind == rp, "%s: the kernel saw what was asked", what);
	snprintf(want, sizeof want, "unitprog bind fd=%d %s [::1]:0 rule=%s:1 option=SO_REUSEADDR,SO_REUSEPORT asked=%s,%s action=force,refuse dry-run result=ok now=reuseaddr:%s,reuseport:%s",
		 fd, pname(proto), pol, onoff(ra), onoff(rp), onoff(ra), onoff(rp));
	line_is(want, what);
	close_sock(fd);
				}
	}
	reuse_cfg.dry_run = false;
}

/* log=off|decisions|all, and unmatched sockets under REUSE_LOG_LEVEL. */
static void log_levels(void)
{
	static const struct {
		const char *policy;
		unsigned cfg_level;
		size_t bind_lines, get_lines;
	} t[] = {
		{ "tcp *:* reuseaddr=force log=off\n", REUSE_LOG_DECISIONS, 0, 0 },
		{ "tcp *:* reuseaddr=force\n", REUSE_LOG_DECISIONS, 1, 0 },
		{ "tcp *:* reuseaddr=force log=all\n", REUSE_LOG_DECISIONS, 1, 1 },
		{ "udp *:* reuseaddr=force\n", REUSE_LOG_DECISIONS, 0, 0 },   /* unmatched */
		{ "udp *:* reuseaddr=force\n", REUSE_LOG_ALL, 1, 1 },
		{ "tcp *:* reuseaddr=force log=all\n", REUSE_LOG_OFF, 0, 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct reuse_call c;
		struct fake f;
		int fd = open_sock(AF_INET, REUSE_P_TCP, false, false), v = -1, ret;
		socklen_t vl = sizeof v;
		size_t nb;
		char body[1024];

		unit_policy(t[i].policy, pol, sizeof pol);
		reuse_cfg.level = (uint8_t)t[i].cfg_level;
		call_init(&c, &f, fd);
		ret = do_bind(&c, AF_INET, 0);
		nb = logcap_n();
		logcap_body(0, body, sizeof body);
		ok(ret == 0 && nb == t[i].bind_lines, "log level %zu (%.30s, level %u): %zu bind line(s), %zu expected",
		   i, t[i].policy, t[i].cfg_level, nb, t[i].bind_lines);
		if (i == 4)
			ok(strstr(body, " rule=none option=SO_REUSEADDR,SO_REUSEPORT asked=off,off action=none result=ok") != NULL,
			   "unmatched at REUSE_LOG_LEVEL=all: rule=none action=none (%s)", body);
		logcap_clear();
		c.entry_errno = errno = SENTINEL;
		ret = engine_getsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, (uintptr_t)&vl);
		if (c.k->rule >= 0)
			ok(ret == 0 && v == 0 && logcap_n() == t[i].get_lines,
			   "log level %zu: getsockopt answers 0 as asked, %zu line(s)", i, logcap_n());
		else
			ok(ret == REUSE_PASS, "log level %zu: getsockopt of an unmatched socket passes", i);
		close_sock(fd);
	}
	reuse_cfg.level = REUSE_LOG_DECISIONS;
}

void test_engine(void)
{
	have_chown = sys_have_cap(CAP_CHOWN);
	diag("engine: CAP_CHOWN %s", have_chown ? "held (keyed groups)" : "not held");
	logcap_start("text", NULL);
	for (int rp = 0; rp < 2; rp++)
		for (unsigned act = 0; act < 4; act++)
			option_table(rp, act);
	exclusive_table();
	deny_table();
	dry_table();
	log_levels();
	test_engine_calls();
	unit_policy_done();
}
