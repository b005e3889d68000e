/*
 * config.c - the policy in force, for the library's init and the seccomp
 * supervisor alike.
 */
#include <string.h>

#include "core/core.h"

/*
 * config_load_policy - path's policy, or the embedded default when path is
 * NULL or empty, into reuse_cfg. One that does not parse is reported once
 * and replaced by no rule at all (fail open), or by "refuse every bind"
 * when its first rule line is `on-error closed`.
 */
void config_load_policy(const char *path)
{
	struct reuse_diag diag = { 0 };
	bool closed;

	/* init may run again in a child forked during the parent's */
	reuse_cfg.policy_broken = reuse_cfg.fail_closed = false;
	if (path && *path)
		reuse_policy_load(path, &reuse_cfg.policy, &diag);
	else
		reuse_policy_parse("default", reuse_default_policy,
				   strlen(reuse_default_policy), &reuse_cfg.policy, &diag);
	if (!diag.errors)
		return;
	closed = reuse_cfg.policy.on_error_closed;
	log_diag(&diag);
	log_text("policy %s has %u error%s: %s", path && *path ? path : "default",
		 diag.errors, diag.errors == 1 ? "" : "s", closed ?
		 "on-error closed: every bind() is refused with EACCES" :
		 "no rule applies (fail open); sockets are left as programs make them");
	reuse_diag_free(&diag);
	reuse_policy_free(&reuse_cfg.policy);
	memset(&reuse_cfg.policy, 0, sizeof reuse_cfg.policy);
	reuse_cfg.policy_broken = true;
	reuse_cfg.fail_closed = closed;
}
