/*
 * subject.c - small pure helpers shared by every caller of the decision
 * engine (engine*.c) and the CLI. Both
 * turn a local address into a decision subject and describe a socket's
 * rule in the log's option/asked/action words; having one copy keeps the
 * two log formats identical. No syscalls, no globals.
 */
#include <netinet/in.h>
#include <string.h>

#include "core/core.h"

/* Copy a word (and ",b") into a fixed field, cut to fit: snprintf's "%s"
 * without its cost, since this runs for every logged decision. */
static void word(char *dst, size_t size, const char *a, const char *b)
{
	size_t n = 0;

	for (; *a && n + 1 < size; a++)
		dst[n++] = *a;
	if (b && n + 1 < size)
		dst[n++] = ',';
	for (; b && *b && n + 1 < size; b++)
		dst[n++] = *b;
	dst[n] = '\0';
}

/*
 * describe_rule - the option/asked/action words of a log line: the one
 * option a rule acts on when it acts on one, both otherwise; `deny` when
 * the policy is broken and closed.
 */
void describe_rule(const struct reuse_rule *r, bool asked_ra, bool asked_rp,
		   bool fail_closed, struct reuse_words *w)
{
	const char *ra = asked_ra ? "on" : "off", *rp = asked_rp ? "on" : "off";

	word(w->option, sizeof w->option, "SO_REUSEADDR,SO_REUSEPORT", NULL);
	word(w->asked, sizeof w->asked, ra, rp);
	if (fail_closed || (r && r->deny)) {
		word(w->action, sizeof w->action, "deny", NULL);
	} else if (!r) {
		word(w->action, sizeof w->action, "none", NULL);
	} else if (r->exclusive) {
		word(w->action, sizeof w->action, "exclusive", NULL);
	} else if (r->reuseaddr != REUSE_KEEP && r->reuseport == REUSE_KEEP) {
		word(w->option, sizeof w->option, "SO_REUSEADDR", NULL);
		word(w->asked, sizeof w->asked, ra, NULL);
		word(w->action, sizeof w->action, reuse_act_name(r->reuseaddr), NULL);
	} else if (r->reuseaddr == REUSE_KEEP && r->reuseport != REUSE_KEEP) {
		word(w->option, sizeof w->option, "SO_REUSEPORT", NULL);
		word(w->asked, sizeof w->asked, rp, NULL);
		word(w->action, sizeof w->action, reuse_act_name(r->reuseport), NULL);
	} else {
		word(w->action, sizeof w->action, reuse_act_name(r->reuseaddr),
		     reuse_act_name(r->reuseport));
	}
}
