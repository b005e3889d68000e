/*
 * subject.c - small pure helpers shared by every caller of the decision
 * engine: the shim (apply.c) and the seccomp supervisor (src/cli). Both
 * turn a local address into a decision subject and describe a socket's
 * rule in the log's option/asked/action words; having one copy keeps the
 * two log formats identical. No syscalls, no globals.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

/*
 * describe_rule - the option/asked/action words of a log line: the one
 * option a rule acts on when it acts on one, both otherwise; `deny` when
 * the policy is broken and closed.
 */
void describe_rule(const struct reuse_rule *r, bool asked_ra, bool asked_rp,
		   bool fail_closed, struct reuse_words *w)
{
	const char *ra = asked_ra ? "on" : "off", *rp = asked_rp ? "on" : "off";

	snprintf(w->option, sizeof w->option, "SO_REUSEADDR,SO_REUSEPORT");
	snprintf(w->asked, sizeof w->asked, "%s,%s", ra, rp);
	if (fail_closed || (r && r->deny)) {
		snprintf(w->action, sizeof w->action, "deny");
	} else if (!r) {
		snprintf(w->action, sizeof w->action, "none");
	} else if (r->exclusive) {
		snprintf(w->action, sizeof w->action, "exclusive");
	} else if (r->reuseaddr != REUSE_KEEP && r->reuseport == REUSE_KEEP) {
		snprintf(w->option, sizeof w->option, "SO_REUSEADDR");
		snprintf(w->asked, sizeof w->asked, "%s", ra);
		snprintf(w->action, sizeof w->action, "%s", reuse_act_name(r->reuseaddr));
	} else if (r->reuseaddr == REUSE_KEEP && r->reuseport != REUSE_KEEP) {
		snprintf(w->option, sizeof w->option, "SO_REUSEPORT");
		snprintf(w->asked, sizeof w->asked, "%s", rp);
		snprintf(w->action, sizeof w->action, "%s", reuse_act_name(r->reuseport));
	} else {
		snprintf(w->action, sizeof w->action, "%s,%s",
			 reuse_act_name(r->reuseaddr), reuse_act_name(r->reuseport));
	}
}
