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

/* The words, constant strings: nothing is copied for a logged decision.
 * Actions by index as reuse_act_name (keep, force, strip, refuse). */
static const char *const act_one[4] = { "keep", "force", "strip", "refuse" };
static const char *const act_two[4][4] = {
	{ "keep,keep", "keep,force", "keep,strip", "keep,refuse" },
	{ "force,keep", "force,force", "force,strip", "force,refuse" },
	{ "strip,keep", "strip,force", "strip,strip", "strip,refuse" },
	{ "refuse,keep", "refuse,force", "refuse,strip", "refuse,refuse" },
};
static const char *const asked_two[2][2] = { { "off,off", "off,on" }, { "on,off", "on,on" } };

/*
 * describe_rule - the option/asked/action words of a log line: the one
 * option a rule acts on when it acts on one, both otherwise; `deny` when
 * the policy is broken and closed.
 */
void describe_rule(const struct reuse_rule *r, bool asked_ra, bool asked_rp,
		   bool fail_closed, struct reuse_words *w)
{
	const char *ra = asked_ra ? "on" : "off", *rp = asked_rp ? "on" : "off";

	w->option = "SO_REUSEADDR,SO_REUSEPORT";
	w->asked = asked_two[asked_ra][asked_rp];
	if (fail_closed || (r && r->deny)) {
		w->action = "deny";
	} else if (!r) {
		w->action = "none";
	} else if (r->exclusive) {
		w->action = "exclusive";
	} else if (r->reuseaddr != REUSE_KEEP && r->reuseport == REUSE_KEEP) {
		w->option = "SO_REUSEADDR";
		w->asked = ra;
		w->action = r->reuseaddr < 4 ? act_one[r->reuseaddr] : "?";
	} else if (r->reuseaddr == REUSE_KEEP && r->reuseport != REUSE_KEEP) {
		w->option = "SO_REUSEPORT";
		w->asked = rp;
		w->action = r->reuseport < 4 ? act_one[r->reuseport] : "?";
	} else {
		w->action = r->reuseaddr < 4 && r->reuseport < 4 ?
			    act_two[r->reuseaddr][r->reuseport] : "?,?";
	}
}
