/*
 * test_explain_text.c - the explanation text (src/core/explain.c) from
 * canned holder lists: no kernel, no /proc. Each case states the facts a
 * failed bind() would have gathered and what the sentence must (and must
 * not) say; tests/advice.bats follows the same advice against the kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "core/explain.h"
#include "tap.h"
#include "unit.h"

enum { ME = 1000, ROOT = 0, NOBODY = 65534 };

static struct reuse_subject subj(unsigned proto, const char *v4, uint16_t port)
{
	struct reuse_subject s = { .proto = proto, .family = AF_INET, .port = port };

	inet_pton(AF_INET, v4, s.addr);
	return s;
}

static struct reuse_holder holder(unsigned proto, uint8_t state, const char *v4,
				  uint16_t port, uint32_t uid, int8_t ra, int8_t rp,
				  int pid, const char *comm)
{
	struct reuse_holder h = { .proto = (uint8_t)proto, .state = state,
				  .family = AF_INET, .port = port, .uid = uid,
				  .ino = 4242, .pid = pid, .fd = pid >= 0 ? 3 : -1,
				  .nprocs = pid >= 0, .ra = ra, .rp = rp };

	inet_pton(AF_INET, v4, h.addr);
	strncpy(h.comm, comm, sizeof h.comm - 1);
	return h;
}

/* TIME_WAIT entries on v4:port, no live holder. */
static void timewait(struct explain_facts *f, const char *v4, uint16_t port, unsigned n)
{
	f->l.timewait = n;
	f->l.tw_have = true;
	f->l.tw = holder(IPPROTO_TCP, TCP_TIME_WAIT, v4, port, ROOT, -1, -1, -1, "");
	f->l.tw.timewait = true;
	f->l.tw.ino = 0;
}

static void facts(struct explain_facts *f, int8_t ra, int8_t rp, uint32_t uid,
		  uint32_t rp_uid)
{
	memset(f, 0, sizeof *f);
	f->own_ra = ra;
	f->own_rp = rp;
	f->uid = uid;
	f->rp_uid = rp_uid;
}

static bool has(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

static void detail(const struct explain_facts *f, const struct reuse_subject *s,
		   char *msg, size_t len)
{
	strcpy(msg, "first sentence");
	explain_detail_text(f, s, msg, len);
}

static void test_detail(void)
{
	struct reuse_subject s = subj(REUSE_P_TCP, "127.0.0.1", 8080);
	struct explain_facts f;
	char msg[1600];

	/* the case: a plain run left TIME_WAIT; RA here failed */
	facts(&f, 1, 0, NOBODY, NOBODY);
	timewait(&f, "127.0.0.1", 8080, 3);
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "first sentence | holders: 3 TIME-WAIT on 127.0.0.1:8080 (no listener there now)"),
	   "TIME_WAIT alone: counted, origin not claimed: %s", msg);
	ok(has(msg, "as uid 65534: none=EADDRINUSE reuseaddr=EADDRINUSE reuseport=unknown both=unknown"),
	   "TIME_WAIT: RA proved absent, RP unknown");
	ok(!has(msg, "reuseport=force") && !has(msg, "perhaps") && !has(msg, "fix: rule"),
	   "TIME_WAIT with unknown SO_REUSEPORT: no rule offered on a guess");
	ok(has(msg, "no option is known to bind now: TIME_WAIT entries pass only") &&
	   has(msg, "as root: ss -K state time-wait sport = :8080"),
	   "TIME_WAIT: what clears them, as a command");
	ok(!has(msg, "left by"), "no claim of who left the entries");

	/* a listener is there now: named, not said to have left them */
	facts(&f, 1, 0, ROOT, ROOT);
	f.l.h[f.l.n++] = holder(IPPROTO_TCP, TCP_LISTEN, "127.0.0.1", 8080, ROOT, 0, 0, 77, "srv");
	timewait(&f, "127.0.0.1", 8080, 2);
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "holders: tcp LISTEN 127.0.0.1:8080 uid=0 pid=77(srv) reuseaddr=off reuseport=off; 2 TIME-WAIT on 127.0.0.1:8080 (listening there now: pid 77 srv)"),
	   "a live listener and TIME_WAIT: %s", msg);
	ok(has(msg, "no option is known to bind now: a TCP listener admits only SO_REUSEPORT"),
	   "a listener without SO_REUSEPORT: nothing binds, and why");

	/* same uid, the listener has SO_REUSEPORT: a rule that shares */
	facts(&f, 1, 0, NOBODY, NOBODY);
	f.l.h[f.l.n++] = holder(IPPROTO_TCP, TCP_LISTEN, "127.0.0.1", 8080, NOBODY, 0, 1, 77, "srv");
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "reuseport=shares both=shares") &&
	   has(msg, "fix: rule 'tcp 127.0.0.1:8080 reuseport=force' ahead of the rule in force (it joins the holder's SO_REUSEPORT group)"),
	   "same uid, RP listener: reuseport=force offered: %s", msg);

	/* the same, but this process may key (CAP_CHOWN): the key is compared */
	facts(&f, 1, 0, ROOT, 2147483646u);
	f.l.h[f.l.n++] = holder(IPPROTO_TCP, TCP_LISTEN, "127.0.0.1", 8080, ROOT, 0, 1, 77, "srv");
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "as uid 0 (keyed uid 2147483646 with SO_REUSEPORT): none=EADDRINUSE reuseaddr=EADDRINUSE reuseport=EADDRINUSE"),
	   "a keying process against an unkeyed group of its uid: refused: %s", msg);
	ok(!has(msg, "fix:"), "keyed: reuseport=force is not offered (it would be refused)");

	/* a keyed group of the same owner: the key matches */
	f.l.h[0].uid = 2147483646u;
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "fix: rule 'tcp 127.0.0.1:8080 reuseport=force'"),
	   "keyed group of the same owner: reuseport=force offered");

	/* flags unreadable (another process, no ptrace rights): who, as root */
	facts(&f, 1, 0, NOBODY, NOBODY);
	f.l.h[f.l.n++] = holder(IPPROTO_TCP, TCP_LISTEN, "127.0.0.1", 8080, NOBODY, -1, -1, 77, "srv");
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "reuseport=unknown") &&
	   has(msg, "as root, reuse who --tcp 127.0.0.1:8080 reads them") && !has(msg, "fix:"),
	   "unreadable flags: no guess, the command that reads them: %s", msg);

	/* UDP holder with SO_REUSEADDR: the rule takes its datagrams, and says so */
	s = subj(REUSE_P_UDP, "127.0.0.1", 53);
	facts(&f, 0, 0, ROOT, ROOT);
	f.l.h[f.l.n++] = holder(IPPROTO_UDP, TCP_CLOSE, "0.0.0.0", 53, NOBODY, 1, 0, 9, "dnsmasq");
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "holders: udp UNCONN 0.0.0.0:53 uid=65534 pid=9(dnsmasq) reuseaddr=on reuseport=off"),
	   "udp holder named: %s", msg);
	ok(has(msg, "fix: rule 'udp 127.0.0.1:53 reuseaddr=force' ahead of the rule in force (it would take the holder's datagrams)"),
	   "udp RA holder: the rule and what it does");

	/* the rules say it binds with what it had: no fix, no blame */
	facts(&f, 1, 0, ROOT, ROOT);
	detail(&f, &s, msg, sizeof msg);
	ok(has(msg, "holders: none seen") && has(msg, "the rules here say it binds"),
	   "nothing listed: a race, said so: %s", msg);

	/* sock_diag failed: nothing appended */
	facts(&f, 1, 0, ROOT, ROOT);
	f.l.diag_errno = EPERM;
	detail(&f, &s, msg, sizeof msg);
	ok(strcmp(msg, "first sentence") == 0, "diag failure: the first sentence stands alone");

	/* a short buffer is cut, never overrun */
	char small[40];
	facts(&f, 1, 0, NOBODY, NOBODY);
	timewait(&f, "127.0.0.1", 8080, 3);
	memset(small, 'x', sizeof small);
	strcpy(small, "first");
	explain_detail_text(&f, &s, small, 32);
	ok(strlen(small) == 31 && small[32] == 'x', "cut at the buffer's size");
}

static void test_in_use(void)
{
	struct reuse_subject s = subj(REUSE_P_TCP, "127.0.0.1", 8080);
	struct reuse_holders h = { .timewait = 3 };
	char msg[1024];

	explain_in_use_text_acts(&h, &s, 1, false, true, REMEDY_PASSED, 0, 0, msg, sizeof msg);
	ok(has(msg, "passed 3 TIME_WAIT entries on 127.0.0.1:8080, which hold SO_REUSEADDR, with SO_REUSEADDR lent to this bind() only") &&
	   !has(msg, "exclusive run"), "passed: the flags, not a guess at their origin: %s", msg);

	explain_in_use_text_acts(&h, &s, 1, false, true, REMEDY_CLEARED, 2, 0, msg, sizeof msg);
	ok(has(msg, "cleared 2 TIME_WAIT entries on 127.0.0.1:8080, which lack SO_REUSEADDR") &&
	   has(msg, "bind retried: ok"), "cleared: %s", msg);

	explain_in_use_text_acts(&h, &s, 1, false, true, REMEDY_CLEAR_FAILED, -EPERM, 0, msg, sizeof msg);
	ok(has(msg, "clearing them failed (Operation not permitted); fix: as root, ss -K state time-wait sport = :8080, or wait up to 66 s"),
	   "clear failed: %s", msg);

	explain_in_use_text_acts(&h, &s, 1, false, true, REMEDY_NONE, 0, 0, msg, sizeof msg);
	ok(has(msg, "3 TIME_WAIT entries hold 127.0.0.1:8080 and lack SO_REUSEADDR") &&
	   has(msg, "fix: start once with CAP_NET_ADMIN (libreuse clears them), or as root, ss -K state time-wait sport = :8080, or wait up to 66 s"),
	   "RA failed, a rule acts: CAP_NET_ADMIN, ss -K, wait: %s", msg);
	ok(!has(msg, "left by a listener"), "no claim about the socket that left them");

	explain_in_use_text_acts(&h, &s, 1, false, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	ok(!has(msg, "CAP_NET_ADMIN") && has(msg, "fix: as root, ss -K"),
	   "no rule acts: CAP_NET_ADMIN would not help, not offered: %s", msg);

	explain_in_use_text_acts(&h, &s, 0, false, true, REMEDY_NONE, 0, 0, msg, sizeof msg);
	ok(has(msg, "this socket lacks SO_REUSEADDR; fix: rule 'tcp 127.0.0.1:8080 reuseaddr=force' ahead of the rule in force"),
	   "no RA here: the rule, and what it can and cannot pass: %s", msg);

	struct reuse_holders live = { .live = 1, .listen = 1, .live_uid = 7 };
	explain_in_use_text(&live, &s, 1, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	ok(strcmp(msg, "127.0.0.1:8080 is held by 1 live socket (1 listening, owner uid 7)") == 0,
	   "live holder: %s", msg);

	struct reuse_holders none = { 0 };
	explain_in_use_text(&none, &s, 1, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	ok(has(msg, "the kernel lists no holder now"), "nothing listed");
}

void test_explain_text(void)
{
	test_detail();
	test_in_use();
}
