/*
 * test_engine_calls.c - the engine (src/core/engine*.c) after a bind()'s
 * decision: setsockopt/getsockopt of a decided socket, listen(), the calls
 * passed to the kernel untouched, failures and fail-closed, options lent
 * to the program's own sockets, a second bind, connect(); through the
 * fake host of fakehost.c.
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

	/* strip: a listen() after bind() with nothing asked since reads no
	 * option (the record holds the plan); an option set behind the
	 * engine's back is then the program's own, as without libreuse */
	unit_policy("tcp *:* reuseaddr=strip reuseport=strip\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, true, true);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	c.entry_errno = errno = SENTINEL;
	ret = engine_listen(&c, 8);
	ok(ret == 0 && errno == SENTINEL && f.listens == 1 && f.ra_at_listen == 1,
	   "listen: a plan kept since bind() is not re-read from the kernel (%d)",
	   f.ra_at_listen);
	close_sock(fd);

	/* strip: once the program asks again through the engine, the plan is
	 * made afresh and the kernel read: options set behind libreuse's back
	 * after bind() are undone */
	fd = open_sock(AF_INET, REUSE_P_TCP, true, true);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	{
		int zero = 0;
		engine_setsockopt(&c, SOL_SOCKET, SO_REUSEPORT, (uintptr_t)&zero, sizeof zero);
	}
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
		   c.k->rule == SOCK_UNDECIDED && !c.k->bound,
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

/* The program's own exclusive socket and a second one on the same port,
 * both asked SO_REUSEADDR. On UDP that option would let every uid bind for
 * the lend: with CAP_CHOWN a keyed SO_REUSEPORT is lent instead, without it
 * nothing is, and the bind fails as the kernel says. */
static void lend_case(void)
{
	struct sockaddr_storage ss;
	struct reuse_call c;
	struct fake f;
	socklen_t sl = sizeof ss;
	uint16_t port;
	int a, b, ret, err;
	bool have_chown = sys_have_cap(CAP_CHOWN);

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
	err = errno;
	ok(flag(a, SO_REUSEADDR) == 0 && flag(b, SO_REUSEADDR) == 0 &&
	   flag(a, SO_REUSEPORT) == 0 && flag(b, SO_REUSEPORT) == 0,
	   "lend: never SO_REUSEADDR on UDP, and whatever was lent is taken back");
	if (have_chown) {
		ok(ret == 0 && err == SENTINEL && f.binds == 2 && f.owns == 1 &&
		   f.ra_at_bind == 0 && f.rp_at_bind == 1,
		   "lend, CAP_CHOWN: the second bind succeeds with a keyed SO_REUSEPORT lent (binds %d)", f.binds);
		ok(logcap_n() == 1 && strstr(logcap_line(0), "this process's own exclusive socket overlaps: lent SO_REUSEPORT to 2 sockets for this bind() only") &&
		   strstr(logcap_line(0), "(keyed: only this program's sockets match it)"),
		   "lend: logged (%s)", logcap_line(0));
	} else {
		ok(ret == -1 && err == EADDRINUSE && f.binds == 1,
		   "lend, no CAP_CHOWN: nothing lent, EADDRINUSE (binds %d)", f.binds);
		ok(logcap_n() == 1 && strstr(logcap_line(0), "no option was lent: on UDP SO_REUSEADDR lets every uid bind"),
		   "lend: the reason logged (%s)", logcap_line(0));
	}
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

/* Two defects once reported, fixed: kept as regressions. */
static void defects(void)
{
	struct reuse_call c;
	struct fake f;
	int fd, v = 1, ret, err;

	/* README/reuse(1): a dry run "decides and logs as usual": a
	 * setsockopt a real run refuses is logged at log=decisions. */
	unit_policy("tcp *:* reuseaddr=refuse dry-run\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, false, false);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	logcap_clear();
	engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, sizeof v);
	ok(logcap_n() == 1 && strstr(logcap_line(0), "refused") &&
	     strstr(logcap_line(0), "dry-run"),
	     "dry run: a setsockopt a real run refuses is logged at decisions (%zu lines)",
	     logcap_n());
	close_sock(fd);

	/* engine_listen's common path leaves errno as the program had it,
	 * as every other success path does */
	unit_policy("tcp *:* reuseaddr=force\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, false, false);
	call_init(&c, &f, fd);
	do_bind(&c, AF_INET, 0);
	c.entry_errno = errno = SENTINEL;
	ret = engine_listen(&c, 8);
	err = errno;
	ok(ret == 0 && err == SENTINEL && f.listens == 1,
	     "listen, common path: errno as the program had it, not the host's (%s)",
	     strerrorname_np(err));
	close_sock(fd);
}

/* connect() on a socket never bound: matched on the kernel's address. */
static void connect_cases(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct reuse_call c;
	struct fake f;
	int l = socket(AF_INET, SOCK_STREAM, 0), fd, ret;

	loop_addr(AF_INET, 0, &ss);
	bind(l, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	listen(l, 4);
	getsockname(l, (struct sockaddr *)&ss, &sl);
	for (int all = 0; all < 2; all++) {
		unit_policy(all ? "tcp *:* reuseaddr=strip log=all\n" : "tcp *:* reuseaddr=strip\n",
			    pol, sizeof pol);
		fd = open_sock(AF_INET, REUSE_P_TCP, true, false);
		call_init(&c, &f, fd);
		ret = connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
		engine_connected(&c, ret, ret < 0 ? errno : 0);
		ok(ret == 0 && c.k->rule == 0 && c.k->bound && flag(fd, SO_REUSEADDR) == 1,
		   "connect (log=%s): matched, bound, options left as they were",
		   all ? "all" : "decisions");
		ok(logcap_n() == (size_t)all && (!all || (strstr(logcap_line(0), " connect fd=") &&
		   strstr(logcap_line(0), "-- implicit bind by connect(): options left as they were"))),
		   "connect (log=%s): %s", all ? "all" : "decisions", all ? "logged" : "not logged");
		close_sock(fd);
	}
	close(l);
	/* a failed connect leaves the socket unbound and undecided */
	fd = open_sock(AF_INET, REUSE_P_TCP, false, false);
	call_init(&c, &f, fd);
	ret = connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	engine_connected(&c, ret, ret < 0 ? errno : 0);
	ok(ret < 0 && c.k->rule == SOCK_UNDECIDED && !c.k->bound,
	   "connect refused: left undecided and unbound (%d)", ret);
	close_sock(fd);
}

/*
 * A host that cannot see sends (the supervisor): an unbound UDP socket's
 * options are held until its bind is decided, so the kernel's implicit
 * bind at a first send leaves neither on the port (issue 14 item 9).
 */
static void hold_cases(void)
{
	struct sockaddr_storage to;
	struct engine_host unseen;
	struct reuse_call c;
	struct fake f;
	int one = 1, v, fd, q;
	socklen_t vl = sizeof v;

	unit_policy("udp *:* reuseaddr=keep reuseport=keep\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_UDP, false, false);
	call_init(&c, &f, fd);
	ok(engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&one, sizeof one) == REUSE_PASS,
	   "hold: a host that sees sends passes the option to the kernel");
	unseen = *c.host;
	unseen.sends_unseen = true;
	c.host = &unseen;
	ok(engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&one, sizeof one) == 0 &&
	   errno == SENTINEL && c.k->held && c.k->asked_ra && flag(fd, SO_REUSEADDR) == 0,
	   "hold: unbound UDP, host blind to sends: SO_REUSEADDR held, not in the kernel");
	v = -1;
	ok(engine_getsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, (uintptr_t)&vl) == 0 &&
	   v == 1, "hold: getsockopt answers what was asked");
	ok(do_bind(&c, AF_INET, 0) == 0 && f.ra_at_bind == 1 && flag(fd, SO_REUSEADDR) == 1 &&
	   !c.k->held,
	   "hold: bind() under keep: the held option reaches the kernel first");
	close_sock(fd);

	unit_policy("udp *:* exclusive\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_UDP, false, false);
	call_init(&c, &f, fd);
	c.host = &unseen;
	engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&one, sizeof one);
	q = socket(AF_INET, SOCK_DGRAM, 0);
	loop_addr(AF_INET, 0, &to);
	bind(q, (struct sockaddr *)&to, sizeof(struct sockaddr_in));
	vl = sizeof to;
	getsockname(q, (struct sockaddr *)&to, &vl);
	ok(sendto(fd, "q", 1, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in)) == 1 &&
	   flag(fd, SO_REUSEADDR) == 0, "hold: the kernel's implicit bind at a send: no SO_REUSEADDR");
	vl = sizeof v;
	v = -1;
	ok(engine_getsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&v, (uintptr_t)&vl) == 0 &&
	   c.k->rule == 0 && !c.k->held && flag(fd, SO_REUSEADDR) == 0 && v == 1,
	   "hold: the next call decides it bound: exclusive keeps SO_REUSEADDR off, the program sees its own");
	close(q);
	close_sock(fd);

	unit_policy("tcp *:* exclusive\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_UDP, false, false);
	call_init(&c, &f, fd);
	c.host = &unseen;
	ok(engine_setsockopt(&c, SOL_SOCKET, SO_REUSEADDR, (uintptr_t)&one, sizeof one) ==
	   REUSE_PASS && !c.k->held, "hold: no rule for UDP: nothing held");
	close_sock(fd);
}

/*
 * engine_drain.c: before an exclusive listener closes, its connections give
 * up the SO_REUSEADDR they inherited; each gets it back at its close.
 */
static void drain_cases(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct reuse_sock k = { .exclusive = 1, .listening = 1, .proto = REUSE_P_TCP };
	int l = socket(AF_INET, SOCK_STREAM, 0), cl = socket(AF_INET, SOCK_STREAM, 0), a, one = 1;
	uint16_t port;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	loop_addr(AF_INET, 0, &ss);
	bind(l, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	listen(l, 4);
	getsockname(l, (struct sockaddr *)&ss, &sl);
	port = eng_local_port(l);
	connect(cl, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	a = accept(l, NULL, NULL);
	ok(engine_drains(&k) && !engine_drains(NULL) &&
	   !engine_drains(&(struct reuse_sock){ .exclusive = 1, .proto = REUSE_P_TCP }),
	   "drain: only an exclusive TCP listener's close drains");
	ok(a >= 0 && flag(a, SO_REUSEADDR) == 1, "drain: the accepted connection inherited SO_REUSEADDR");
	errno = SENTINEL;
	ok(!engine_drain_take(l, port) && flag(l, SO_REUSEADDR) == 1 && errno == SENTINEL,
	   "drain: the listener itself keeps it");
	ok(!engine_drain_take(cl, port) && flag(cl, SO_REUSEADDR) == 0,
	   "drain: a socket on another port is left alone");
	ok(engine_drain_take(a, port) && flag(a, SO_REUSEADDR) == 0 && errno == SENTINEL,
	   "drain: the connection on the listener's port gives it up");
	ok(!engine_drain_take(a, port), "drain: taken once");
	engine_drain_back(a);
	ok(flag(a, SO_REUSEADDR) == 1 && errno == SENTINEL,
	   "drain: back at its close, errno kept");
	close(a);
	close(cl);
	close(l);
}

/* EADDRINUSE from a real holder: the kernel's error, the options undone,
 * and the line explains (sock_diag and /proc, in this process). */
static void in_use_case(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct reuse_call c;
	struct fake f;
	char want[160];
	const char *l;
	int h = socket(AF_INET, SOCK_STREAM, 0), fd, ret, err;
	uint16_t port;

	loop_addr(AF_INET, 0, &ss);
	bind(h, (struct sockaddr *)&ss, sizeof(struct sockaddr_in));
	listen(h, 4);
	getsockname(h, (struct sockaddr *)&ss, &sl);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	unit_policy("tcp *:* reuseaddr=force reuseport=strip\n", pol, sizeof pol);
	fd = open_sock(AF_INET, REUSE_P_TCP, false, true);
	call_init(&c, &f, fd);
	ret = do_bind(&c, AF_INET, port);
	err = errno;
	l = logcap_line(0);
	ok(ret == -1 && err == EADDRINUSE && f.ra_at_bind == 1 && f.rp_at_bind == 0,
	   "in use: EADDRINUSE with the rule's options at bind");
	ok(flag(fd, SO_REUSEADDR) == 0 && flag(fd, SO_REUSEPORT) == 1 &&
	   c.k->rule == SOCK_UNDECIDED && !c.k->bound,
	   "in use: the options back as asked, the socket undecided");
	snprintf(want, sizeof want, "result=EADDRINUSE now=reuseaddr:off,reuseport:on -- 127.0.0.1:%u is held by 1 live socket (1 listening, owner uid %u)",
		 port, (unsigned)geteuid());
	ok(logcap_n() == 1 && strstr(l, want), "in use: the sentence (%s)", l);
	snprintf(want, sizeof want, " | holders: tcp LISTEN 127.0.0.1:%u uid=%u pid=%ld(", port,
		 (unsigned)geteuid(), (long)getpid());
	ok(strstr(l, want) && strstr(l, " reuseaddr=off reuseport=off") &&
	   strstr(l, " | as uid ") && strstr(l, "no option is known to bind now: a TCP listener admits only"),
	   "in use: the holders by pid and flags, and why no option binds (%s)", l);
	close_sock(fd);
	close(h);
}

void test_engine_calls(void)
{
	after_table();
	listen_cases();
	pass_cases();
	failure_cases();
	lend_case();
	rebind_case();
	in_use_case();
	connect_cases();
	hold_cases();
	drain_cases();
	defects();
}
