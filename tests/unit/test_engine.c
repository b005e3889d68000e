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

#include "core/engine.h"
#include "core/sys.h"
#include "tap.h"
#include "unit.h"

/* errno as the program had it before each call: a success must leave it. */
#define SENTINEL ENOTRECOVERABLE

struct fake {
	int binds, listens, getsockopts, notes, owns;
	int ra_at_bind, rp_at_bind;       /* the kernel's, when bind was asked */
	int ra_at_listen, rp_at_listen;
	uint32_t owner_at_bind;
	socklen_t bind_len;
	int bind_err;                     /* 0: the real call; else fail so */
	bool fault;                       /* copy_in fails (a bad pointer) */
	int own_fd;                       /* own_sockets' one answer, or -1 */
	struct reuse_sock *own_k;
};

static int flag(int fd, int name)
{
	int v = -1;
	socklen_t l = sizeof v;

	if (getsockopt(fd, SOL_SOCKET, name, &v, &l) < 0)
		return -1;
	return v != 0;
}

static struct fake *F(const struct reuse_call *c)
{
	return c->ctx;
}

static bool f_copy_in(const struct reuse_call *c, void *dst, uint64_t src, size_t len)
{
	if (F(c)->fault || !src)
		return false;
	memcpy(dst, (const void *)(uintptr_t)src, len);
	return true;
}

static bool f_copy_out(const struct reuse_call *c, uint64_t dst, const void *src,
		       size_t len)
{
	(void)c;
	memcpy((void *)(uintptr_t)dst, src, len);
	return true;
}

static int f_bind(const struct reuse_call *c, const struct sockaddr *a, socklen_t len)
{
	struct fake *f = F(c);
	struct stat st;
	int r;

	f->binds++;
	f->ra_at_bind = flag(c->sock, SO_REUSEADDR);
	f->rp_at_bind = flag(c->sock, SO_REUSEPORT);
	f->owner_at_bind = fstat(c->sock, &st) == 0 ? (uint32_t)st.st_uid : 0xffffffffu;
	f->bind_len = len;
	if (f->bind_err) {
		errno = f->bind_err;
		return -1;
	}
	r = bind(c->sock, a, len);
	if (r == 0)
		errno = EINTR;            /* noise a success must not show */
	return r;
}

static int f_listen(const struct reuse_call *c, int backlog)
{
	struct fake *f = F(c);
	int r;

	f->listens++;
	f->ra_at_listen = flag(c->sock, SO_REUSEADDR);
	f->rp_at_listen = flag(c->sock, SO_REUSEPORT);
	r = listen(c->sock, backlog);
	if (r == 0)
		errno = EINTR;
	return r;
}

static int f_getsockopt(const struct reuse_call *c, int level, int name, uint64_t val,
			uint64_t lenp)
{
	F(c)->getsockopts++;
	return getsockopt(c->sock, level, name, (void *)(uintptr_t)val,
			  (socklen_t *)(uintptr_t)lenp);
}

static int f_own(const struct reuse_call *c, unsigned proto, uint16_t port,
		 struct reuse_own *out, int max)
{
	struct fake *f = F(c);

	(void)proto;
	(void)port;
	f->owns++;
	if (f->own_fd < 0 || max < 1)
		return 0;
	out[0].fd = dup(f->own_fd);       /* the engine closes it */
	out[0].k = f->own_k;
	return 1;
}

static void f_note(const struct reuse_call *c)
{
	F(c)->notes++;
}

static void f_names(struct reuse_call *c)
{
	c->prog = "unitprog";
	c->exe = "unitexe";
}

static const struct engine_host fake_host = {
	.copy_in = f_copy_in,
	.copy_out = f_copy_out,
	.bind = f_bind,
	.listen = f_listen,
	.getsockopt = f_getsockopt,
	.own_sockets = f_own,
	.note_exclusive = f_note,
	.install = NULL,
	.names = f_names,
};

/* A fresh socket the program made, with the options it asked before bind()
 * (set on the kernel directly: the engine leaves an undecided socket's
 * options alone and reads them at bind). */
static int open_sock(int family, unsigned proto, bool ra, bool rp)
{
	int type = proto == REUSE_P_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(family, type, 0), on = 1;

	if (fd < 0)
		return -1;
	sock_created(fd, family, type, 0);
	if (ra)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (rp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	return fd;
}

static void close_sock(int fd)
{
	sock_forget(fd);
	close(fd);
}

static void call_init(struct reuse_call *c, struct fake *f, int fd)
{
	memset(f, 0, sizeof *f);
	f->ra_at_bind = f->rp_at_bind = f->ra_at_listen = f->rp_at_listen = -9;
	f->own_fd = -1;
	memset(c, 0, sizeof *c);
	c->host = &fake_host;
	c->ctx = f;
	c->fd = c->sock = fd;
	c->pidfd = -1;
	c->k = sock_get(fd);
	c->can_call_here = true;
	c->euid = -1;
	c->entry_errno = SENTINEL;
	errno = SENTINEL;
	logcap_clear();
}

/* A loopback address of family on port (0: the kernel picks). */
static socklen_t loop_addr(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (void *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	in6->sin6_addr = in6addr_loopback;
	return sizeof *in6;
}

static int do_bind(struct reuse_call *c, int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = loop_addr(family, port, &ss);

	return engine_bind(c, (uintptr_t)&ss, len);
}

static const char *onoff(int v)
{
	return v ? "on" : "off";
}

static const char *pname(unsigned proto)
{
	return proto == REUSE_P_TCP ? "tcp" : "udp";
}

static const char *where(int family)
{
	return family == AF_INET ? "127.0.0.1:0" : "[::1]:0";
}

/* The only line logged, compared whole (after pid and time stamp). */
static bool line_is(const char *want, const char *what)
{
	char body[2048];

	logcap_body(0, body, sizeof body);
	if (logcap_n() == 1 && strcmp(body, want) == 0)
		return ok(true, "%s: the log line", what);
	ok(false, "%s: the log line", what);
	diag("want: %s", want);
	diag("got %zu line(s): %s", logcap_n(), logcap_n() ? logcap_line(0) : "");
	return false;
}

static bool have_chown;
static char pol[64];

static const int fams[2] = { AF_INET, AF_INET6 };
static const unsigned protos[2] = { REUSE_P_TCP, REUSE_P_UDP };
static const char *const acts[4] = { "keep", "force", "strip", "refuse" };

/*
 * One option under one action at bind(), the other option left alone:
 * every proto, family, and what the program asked of both options.
 */
static void option_table(bool is_rp, unsigned act)
{
	char text[96], want[512], what[160], note[200];
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
	struct reuse_plan kept;
	struct reuse_call c;
	struct fake f;
	int fd = open_sock(fam, proto, ra, rp), ret, err;

	snprintf(what, sizeof what, "%s=%s %s %s asked=%d other=%d", opt, acts[act],
		 pname(proto), fam == AF_INET ? "v4" : "v6", asked, other);
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
		   f.owner_at_bind == (keyed ? REUSE_KEY_UID : (uint32_t)geteuid()),
		   "%s: the record (rule %d bound %d excl %d keyed %d, owner %u)", what,
		   c.k->rule, c.k->bound, c.k->exclusive, c.k->keyed, f.owner_at_bind);
		ok(eng_plan_kept(c.k, &kept) &&
		   kept.ra == (is_rp ? -1 : act == REUSE_FORCE ? 1 : act == REUSE_STRIP ? 0 : -1) &&
		   kept.rp == (is_rp ? act == REUSE_FORCE ? 1 : act == REUSE_STRIP ? 0 : -1 : -1),
		   "%s: the plan kept for listen() (%d %d)", what, kept.ra, kept.rp);
	}
	note[0] = '\0';
	if (is_rp && act == REUSE_FORCE)
		snprintf(note, sizeof note, " -- %s", keyed ?
			 "SO_REUSEPORT forced, keyed (owner uid 2147483646): instances under libreuse with CAP_CHOWN share the port, no other process can join" :
			 "SO_REUSEPORT forced: instances share the port, and so can any process of this uid (give the process CAP_CHOWN to key the group)");
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
	char want[600], what[120];
	const char *note = keyed ?
		" -- exclusive; SO_REUSEPORT kept for the program's own sockets, keyed (owner uid 2147483646): no other process can join" :
		joinable ?
		" -- exclusive, but the program shares this port through SO_REUSEPORT: same-uid processes can join (give the process CAP_CHOWN to key the group)" : "";
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
	ok(c.k->exclusive && c.k->keyed == keyed && f.notes == 1 &&
	   f.owner_at_bind == (keyed ? REUSE_KEY_UID : (uint32_t)geteuid()),
	   "%s: record exclusive, keyed=%d, the host told once (%d)", what, keyed, f.notes);
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

/* After bind(): setsockopt held / refused / passed, getsockopt's view. */
static void after_table(void)
{
	static const struct {
		const char *rule;
		bool ra, rp;                 /* asked before bind */
		bool is_rp;                  /* set after bind: SO_REUSEPORT? */
		int value;
		int ret;                     /* 0 or the errno */
		int kernel;                  /* that option in the kernel after */
		const char *note;            /* the line's note, or NULL: none */
	} t[] = {
		{ "reuseaddr=force", 0, 0, false, 0, 0, 1, "held by the rule" },
		{ "reuseaddr=force", 1, 0, false, 0, 0, 1, "held by the rule" },
		{ "reuseaddr=force", 0, 0, false, 1, 0, 1, "held by the rule" },
		{ "reuseaddr=strip", 0, 0, false, 1, 0, 0, "held by the rule" },
		{ "reuseaddr=strip", 1, 0, false, 0, 0, 0, "held by the rule" },
		{ "reuseaddr=refuse", 0, 0, false, 1, EPERM, 0, "refused" },
		{ "reuseaddr=refuse", 0, 0, false, 0, 0, 0, NULL },
		{ "reuseaddr=keep", 0, 0, false, 1, 0, 1, NULL },
		{ "reuseaddr=keep", 1, 0, false, 0, 0, 0, NULL },
		{ "reuseport=force", 0, 0, true, 1, 0, 1, "held by the rule" },
		{ "reuseport=strip", 0, 0, true, 1, 0, 0, "held by the rule" },
		{ "reuseport=strip", 0, 1, true, 1, 0, 0, "held by the rule" },
		{ "reuseport=refuse", 0, 0, true, 1, EPERM, 0, "refused" },
		{ "reuseport=keep", 0, 0, true, 1, 0, 1, NULL },
		{ "reuseport=force", 0, 0, false, 0, 0, 0, NULL },
		{ "reuseaddr=strip", 0, 0, true, 1, 0, 1, NULL },
		{ "exclusive", 0, 0, true, 1, 0, 0, "held by the rule" },
		{ "exclusive", 0, 0, false, 1, 0, 0, "held by the rule" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		for (int p = 0; p < 2; p++)
			for (int fi = 0; fi < 2; fi++) {
		unsigned proto = protos[p];
		int fam = fams[fi], fd, ret, err, v = t[i].value, seen = -1;
		socklen_t sl = sizeof seen;
		const char *oname = t[i].is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR";
		int name = t[i].is_rp ? SO_REUSEPORT : SO_REUSEADDR;
		char text[64], what[160], want[160], body[1024];
		struct reuse_call c;
		struct fake f;
		/* what getsockopt answers: the program's value once accepted */
		int view = t[i].ret ? (t[i].is_rp ? t[i].rp : t[i].ra) : t[i].value;

		snprintf(text, sizeof text, "any *:* %s\n", t[i].rule);
		unit_policy(text, pol, sizeof pol);
		fd = open_sock(fam, proto, t[i].ra, t[i].rp);
		call_init(&c, &f, fd);
		snprintf(what, sizeof what, "after bind %s ra=%d rp=%d set %s=%d %s %s",
			 t[i].rule, t[i].ra, t[i].rp, oname, v, pname(proto),
			 fam == AF_INET ? "v4" : "v6");
		if (do_bind(&c, fam, 0) != 0) {
			ok(false, "%s: the bind", what);
			close_sock(fd);
			continue;
		}
		logcap_clear();
		c.entry_errno = errno = SENTINEL;
		ret = engine_setsockopt(&c, SOL_SOCKET, name, (uintptr_t)&v, sizeof v);
		err = errno;
		ok(t[i].ret ? ret == -1 && err == t[i].ret : ret == 0 && err == SENTINEL,
		   "%s: setsockopt returns %d, errno %s", what, ret, strerrorname_np(err));
		ok(flag(fd, name) == t[i].kernel, "%s: the kernel holds %d (%d)", what,
		   t[i].kernel, flag(fd, name));
		logcap_body(0, body, sizeof body);
		snprintf(want, sizeof want, " -- program set %s=%d after bind(): %s", oname,
			 v, t[i].note ? t[i].note : "passed to the kernel");
		if (t[i].note)
			ok(logcap_n() == 1 && strstr(body, want) &&
			   strstr(body, t[i].ret ? "result=EPERM" : "result=ok") &&
			   !strncmp(body, "unitprog setsockopt fd=", 23),
			   "%s: logged%s", what, want);
		else
			ok(logcap_n() == 0, "%s: passed, not logged at decisions", what);
		c.entry_errno = errno = SENTINEL;
		ret = engine_getsockopt(&c, SOL_SOCKET, name, (uintptr_t)&seen, (uintptr_t)&sl);
		ok(ret == 0 && errno == SENTINEL && seen == view && sl == sizeof seen,
		   "%s: getsockopt shows the program's %d (%d)", what, view, seen);
		close_sock(fd);
			}
}

/* listen(): the rule's options re-asserted, exclusive's SO_REUSEADDR. */
static void listen_cases(void)
{
	struct reuse_call c;
	struct fake f;
	char body[1024];
	int fd, on = 1, ret;

	/* strip: options set behind libreuse's back after bind() are undone */
	unit_policy("tcp *:* reuseaddr=strip reuseport=strip\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, true, true);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	logcap_clear();
	c.entry_errno = errno = SENTINEL;
	ret = engine_listen(&c, 8);
	logcap_body(0, body, sizeof body);
	ok(ret == 0 && errno == SENTINEL && f.listens == 1 && f.ra_at_listen == 0 &&
	   f.rp_at_listen == 0, "listen: options changed behind the engine are stripped again before listen (%d %d)",
	   f.ra_at_listen, f.rp_at_listen);
	ok(strstr(body, "unitprog listen fd=") == body &&
	   strstr(body, "-- options changed behind libreuse since bind(): re-applied the rule before listen()"),
	   "listen: the re-assertion is logged (%s)", body);
	ok(c.k->listening, "listen: the record says listening");
	c.entry_errno = errno = SENTINEL;
	ok(engine_listen(&c, 8) == REUSE_PASS, "listen again: passed to the kernel");
	close_sock(fd);

	/* a held setsockopt after bind stays held through listen() */
	unit_policy("tcp *:* reuseaddr=force reuseport=force\n", pol, sizeof pol);
	fd = open_sock(AF_INET6, REUSE_P_TCP, false, false);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET6, 0);
	{
		int zero = 0;
		engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&zero, sizeof zero);
	}
	ret = engine_listen(&c, 8);
	ok(ret == 0 && f.ra_at_listen == 1 && f.rp_at_listen == 1,
	   "listen: force holds through a setsockopt(0) after bind (%d %d)", f.ra_at_listen,
	   f.rp_at_listen);
	close_sock(fd);

	/* exclusive: SO_REUSEADDR off for listen(), on after */
	unit_policy("tcp *:* exclusive\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, true, false);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	logcap_clear();
	c.entry_errno = errno = SENTINEL;
	ret = engine_listen(&c, 8);
	logcap_body(0, body, sizeof body);
	ok(ret == 0 && errno == SENTINEL && f.ra_at_listen == 0 && flag(fd, SO_REUSEADDR) == 1,
	   "listen exclusive: SO_REUSEADDR off at listen, on after (%d, %d)", f.ra_at_listen,
	   flag(fd, SO_REUSEADDR));
	ok(strstr(body, "action=exclusive result=ok now=reuseaddr:on,reuseport:off -- exclusive: SO_REUSEADDR on from listen() on") != NULL,
	   "listen exclusive: logged (%s)", body);
	close_sock(fd);

	/* deny: listen() on an unbound socket binds the wildcard, then refuses */
	unit_policy("tcp *:* deny\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, false, false);
	call_init(&c, &f, fd);
	ret = engine_listen(&c, 8);
	logcap_body(0, body, sizeof body);
	ok(ret == -1 && errno == EACCES && f.listens == 0 && f.binds == 1,
	   "listen unbound under deny: EACCES, the implicit bind made through the host");
	ok(strstr(body, "unitprog listen fd=") == body && strstr(body, " tcp 0.0.0.0:") &&
	   strstr(body, "action=deny result=EACCES now=reuseaddr:off,reuseport:off -- listen() on an unbound socket: matched on the port the kernel chose"),
	   "listen unbound under deny: logged (%s)", body);
	close_sock(fd);

	/* UDP: nothing to do */
	fd = open_sock(AF_INET, REUSE_P_UDP, false, false);
	call_init(&c, &f, fd);
	ok(engine_listen(&c, 8) == REUSE_PASS && f.listens == 0, "listen on UDP: passed");
	close_sock(fd);
}

/* REUSE_PASS: what the kernel must answer itself; and what it accepts. */
static void pass_cases(void)
{
	static const struct {
		int family, as;              /* the socket's, the address's */
		socklen_t len;
		bool fault;
		bool pass;
	} t[] = {
		{ AF_INET, AF_INET, 15, false, true },     /* short */
		{ AF_INET, AF_INET, 16, false, false },
		{ AF_INET, AF_INET, 128, false, false },   /* sockaddr_storage */
		{ AF_INET, AF_INET, 129, false, true },    /* the kernel: EINVAL */
		{ AF_INET, AF_INET6, 28, false, true },    /* wrong family */
		{ AF_INET6, AF_INET, 28, false, true },
		{ AF_INET6, AF_INET6, 23, false, true },
		{ AF_INET6, AF_INET6, 24, false, false },  /* SIN6_LEN_RFC2133 */
		{ AF_INET6, AF_INET6, 25, false, false },
		{ AF_INET6, AF_INET6, 27, false, false },
		{ AF_INET6, AF_INET6, 28, false, false },
		{ AF_INET6, AF_INET6, 128, false, false },
		{ AF_INET6, AF_INET6, 129, false, true },
		{ AF_INET, AF_INET, 16, true, true },      /* EFAULT */
		{ AF_INET, AF_UNSPEC, 16, false, false },  /* AF_UNSPEC any = 0.0.0.0 */
	};
	unit_policy("any *:* reuseaddr=force\n", pol, sizeof pol);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct sockaddr_storage ss[2];   /* room past 128 for len 129 */
		struct reuse_call c;
		struct fake f;
		int fd = open_sock(t[i].family, REUSE_P_TCP, false, false), ret;

		memset(ss, 0, sizeof ss);
		if (t[i].as != AF_UNSPEC)
			loop_addr(t[i].as, 0, &ss[0]);
		call_init(&c, &f, fd);
		f.fault = t[i].fault;
		ret = engine_bind(&c, (uintptr_t)ss, t[i].len);
		if (t[i].pass)
			ok(ret == REUSE_PASS && f.binds == 0 && logcap_n() == 0 &&
			   c.k->rule == SOCK_UNDECIDED && flag(fd, SO_REUSEADDR) == 0,
			   "pass: family %d address %d len %u%s: the kernel answers, untouched (%d)",
			   t[i].family, t[i].as, (unsigned)t[i].len, t[i].fault ? " fault" : "", ret);
		else
			ok(ret == 0 && f.binds == 1 && f.bind_len == t[i].len &&
			   f.ra_at_bind == 1 && c.k->rule == 0,
			   "accept: family %d address %d len %u: decided and bound (%d, len %u)",
			   t[i].family, t[i].as, (unsigned)t[i].len, ret, (unsigned)f.bind_len);
		close_sock(fd);
	}

	/* setsockopt on an undecided socket, or with a short value: passed */
	{
		struct reuse_call c;
		struct fake f;
		int fd = open_sock(AF_INET, REUSE_P_TCP, false, false), v = 1;

		call_init(&c, &f, fd);
		ok(engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, sizeof v) ==
		   REUSE_PASS, "setsockopt before bind: passed");
		do_bind(&c, AF_INET, 0);
		ok(engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, 2) ==
		   REUSE_PASS, "setsockopt with a 2-byte value: passed");
		f.fault = true;
		ok(engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, sizeof v) ==
		   REUSE_PASS, "setsockopt with an unreadable value: passed");
		close_sock(fd);
	}

	/* a host that cannot make the call: decided, options set, continued */
	{
		struct reuse_call c;
		struct fake f;
		char body[1024];
		int fd = open_sock(AF_INET, REUSE_P_UDP, false, false);

		call_init(&c, &f, fd);
		c.can_call_here = false;
		c.pid = 4242;
		ok(do_bind(&c, AF_INET, 0) == REUSE_PASS && f.binds == 0 &&
		   flag(fd, SO_REUSEADDR) == 1, "can_call_here=false: options set, the call continues");
		logcap_body(0, body, sizeof body);
		ok(strstr(body, "unitprog bind fd=") == body && strstr(body, "result=continued") &&
		   strstr(logcap_line(0), "libreuse[4242]:"),
		   "can_call_here=false: the line is about the program's pid, continued (%s)",
		   logcap_line(0));
		close_sock(fd);
	}
}

/* A failed bind: the error as the kernel gave it, the options and the
 * owner back as the program had them, the socket undecided. */
static void failure_cases(void)
{
	for (int ra = 0; ra < 2; ra++) {
		struct reuse_call c;
		struct fake f;
		struct stat st;
		int fd = open_sock(AF_INET, REUSE_P_TCP, ra, true), ret, err;

		unit_policy("tcp *:* exclusive\n", pol, sizeof pol);
		call_init(&c, &f, fd);
		f.bind_err = EADDRNOTAVAIL;
		ret = do_bind(&c, AF_INET, 0);
		err = errno;
		ok(ret == -1 && err == EADDRNOTAVAIL, "failed exclusive bind: the host's errno (%s)",
		   strerrorname_np(err));
		ok(fstat(fd, &st) == 0 && st.st_uid == geteuid() && !c.k->keyed,
		   "failed exclusive bind: the owner back (%u), not keyed", (unsigned)st.st_uid);
		ok(flag(fd, SO_REUSEADDR) == ra && flag(fd, SO_REUSEPORT) == 1 &&
		   c.k->rule == SOCK_UNDECIDED && !c.k->bound && f.notes == 0,
		   "failed exclusive bind: options as asked, undecided, not noted");
		ok(logcap_n() == 1 && strstr(logcap_line(0), "result=EADDRNOTAVAIL"),
		   "failed exclusive bind: logged");
		close_sock(fd);
	}

	/* fail_closed: a broken policy saying `on-error closed` refuses */
	unit_policy("on-error closed\ntcp *:* reuseaddr=bogus\n", pol, sizeof pol);
	ok(reuse_cfg.fail_closed && reuse_cfg.policy_broken, "on-error closed: the loader says so");
	for (int p = 0; p < 2; p++) {
		struct reuse_call c;
		struct fake f;
		char want[400];
		int fd = open_sock(AF_INET, protos[p], false, false), ret, err;

		call_init(&c, &f, fd);
		ret = do_bind(&c, AF_INET, 0);
		err = errno;
		ok(ret == -1 && err == EACCES && f.binds == 0 && c.k->rule == SOCK_UNDECIDED,
		   "fail closed %s: EACCES, no bind", pname(protos[p]));
		snprintf(want, sizeof want, "unitprog bind fd=%d %s 127.0.0.1:0 rule=on-error closed option=SO_REUSEADDR,SO_REUSEPORT asked=off,off action=deny result=EACCES now=reuseaddr:off,reuseport:off -- policy did not parse and says on-error closed",
			 fd, pname(protos[p]));
		line_is(want, "fail closed");
		close_sock(fd);
	}
	/* the same broken policy without `on-error closed` fails open */
	unit_policy("tcp *:* reuseaddr=bogus\n", pol, sizeof pol);
	{
		struct reuse_call c;
		struct fake f;
		int fd = open_sock(AF_INET, REUSE_P_TCP, true, false);

		call_init(&c, &f, fd);
		ok(do_bind(&c, AF_INET, 0) == 0 && f.ra_at_bind == 1 && !reuse_cfg.fail_closed &&
		   c.k->rule == SOCK_UNMATCHED && logcap_n() == 0,
		   "fail open: bound as asked, unmatched, nothing logged");
		close_sock(fd);
	}
}

/* The program's own exclusive socket and a second one on the same port:
 * both asked SO_REUSEADDR, so it is lent for one bind(). */
static void lend_case(void)
{
	struct sockaddr_storage ss;
	struct reuse_call c;
	struct fake f;
	socklen_t sl = sizeof ss;
	uint16_t port;
	int a, b, ret;

	unit_policy("udp *:* exclusive\n", pol, sizeof pol);
	a = open_sock(AF_INET, REUSE_P_UDP, true, false);
	call_init(&c, &f, a);
	do_bind(&c, AF_INET, 0);
	getsockname(a, (struct sockaddr *)&ss, &sl);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	b = open_sock(AF_INET, REUSE_P_UDP, true, false);
	call_init(&c, &f, b);
	f.own_fd = a;
	f.own_k = sock_get(a);
	errno = SENTINEL;
	ret = do_bind(&c, AF_INET, port);
	ok(ret == 0 && errno == SENTINEL && f.binds == 2 && f.owns == 1 && f.ra_at_bind == 1,
	   "lend: the second exclusive bind succeeds with SO_REUSEADDR lent (binds %d)", f.binds);
	ok(flag(a, SO_REUSEADDR) == 0 && flag(b, SO_REUSEADDR) == 0,
	   "lend: taken back from both sockets");
	ok(logcap_n() == 1 && strstr(logcap_line(0), "this process's own exclusive socket overlaps: lent SO_REUSEADDR to 2 sockets for this bind() only"),
	   "lend: logged (%s)", logcap_line(0));
	close_sock(a);
	close_sock(b);
}

/* A bind on a socket already bound: the kernel's EINVAL, the rule kept. */
static void rebind_case(void)
{
	struct reuse_call c;
	struct fake f;
	int fd, ret;

	unit_policy("tcp *:* reuseaddr=strip\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, true, false);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	logcap_clear();
	ret = do_bind(&c, AF_INET, 0);
	ok(ret == -1 && errno == EINVAL && c.k->rule == 0 && flag(fd, SO_REUSEADDR) == 0,
	   "rebind: EINVAL from the kernel, the rule and options kept");
	ok(logcap_n() == 1 && strstr(logcap_line(0), "-- socket already bound: the rule chosen at its first bind() holds"),
	   "rebind: logged");
	close_sock(fd);
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
	after_table();
	listen_cases();
	pass_cases();
	failure_cases();
	lend_case();
	rebind_case();
	unit_policy_done();
}
