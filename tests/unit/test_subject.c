/*
 * test_subject.c - the pure helpers the shim and the seccomp supervisor
 * share (src/core/subject.c): an address becomes a decision subject, and a
 * rule becomes the log's option/asked/action words.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/core.h"
#include "tap.h"
#include "unit.h"

static void subject_cases(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	struct reuse_subject s;
	uint8_t want4[4] = { 127, 0, 0, 1 };

	memset(&ss, 0, sizeof ss);
	in->sin_family = AF_INET;
	in->sin_port = htons(8080);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	subject_from_addr(&ss, REUSE_P_TCP, &s);
	ok(s.family == AF_INET && s.port == 8080 && !memcmp(s.addr, want4, 4) &&
	   s.proto == REUSE_P_TCP && s.uid == -1 && !s.prog && !s.exe,
	   "subject: IPv4 address, port in host order, uid unknown (-1)");

	memset(&ss, 0, sizeof ss);
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(53);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6->sin6_addr);
	subject_from_addr(&ss, REUSE_P_UDP, &s);
	ok(s.family == AF_INET && s.port == 53 && !memcmp(s.addr, want4, 4),
	   "subject: an IPv4-mapped IPv6 address is IPv4");

	inet_pton(AF_INET6, "::1", &in6->sin6_addr);
	subject_from_addr(&ss, REUSE_P_UDP, &s);
	ok(s.family == AF_INET6 && s.addr[15] == 1 && s.port == 53,
	   "subject: IPv6 stays IPv6");
}

static bool words(const struct reuse_rule *r, bool ra, bool rp, bool closed,
		  const char *option, const char *asked, const char *action)
{
	struct reuse_words w;

	describe_rule(r, ra, rp, closed, &w);
	if (!strcmp(w.option, option) && !strcmp(w.asked, asked) &&
	    !strcmp(w.action, action))
		return true;
	diag("got option=%s asked=%s action=%s", w.option, w.asked, w.action);
	return false;
}

static void words_cases(void)
{
	struct reuse_rule r;

	ok(words(NULL, true, false, false, "SO_REUSEADDR,SO_REUSEPORT", "on,off", "none"),
	   "words: no rule");
	ok(words(NULL, false, false, true, "SO_REUSEADDR,SO_REUSEPORT", "off,off", "deny"),
	   "words: on-error closed");
	memset(&r, 0, sizeof r);
	r.reuseaddr = REUSE_FORCE;
	ok(words(&r, false, true, false, "SO_REUSEADDR", "off", "force"),
	   "words: a rule on SO_REUSEADDR alone names it");
	r.reuseaddr = REUSE_KEEP;
	r.reuseport = REUSE_REFUSE;
	ok(words(&r, false, true, false, "SO_REUSEPORT", "on", "refuse"),
	   "words: a rule on SO_REUSEPORT alone names it");
	r.reuseaddr = REUSE_STRIP;
	ok(words(&r, true, true, false, "SO_REUSEADDR,SO_REUSEPORT", "on,on", "strip,refuse"),
	   "words: both options");
	r.exclusive = true;
	ok(words(&r, true, false, false, "SO_REUSEADDR,SO_REUSEPORT", "on,off", "exclusive"),
	   "words: exclusive over the options");
	r.deny = true;
	ok(words(&r, true, false, false, "SO_REUSEADDR,SO_REUSEPORT", "on,off", "deny"),
	   "words: deny over everything");
}

void test_subject(void)
{
	subject_cases();
	words_cases();
}
