/*
 * config.c - the core's configuration: the one reader of the REUSE_*
 * environment, the one rule for which policy is in force, and loading it.
 * Both hosts (the library's init, the seccomp supervisor) and the CLI use
 * these, so they agree on every setting.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/log_dest.h"

struct reuse_config reuse_cfg;

/* REUSE_* (and LISTEN_*) as the process sees them; NULL in a
 * secure-execution process (setuid), whose environment is not trusted. */
const char *config_env(const char *name)
{
	return reuse_cfg.secure ? NULL : getenv(name);
}

/*
 * config_policy_path - REUSE_POLICY, else the system file if it exists,
 * else NULL for the embedded default (reuse.policy(5), "Where the policy
 * comes from"). An empty REUSE_POLICY counts as unset.
 */
const char *config_policy_path(void)
{
	const char *path = config_env("REUSE_POLICY");
	struct stat st;

	if (path && *path)
		return path;
	if (stat(REUSE_SYSTEM_POLICY, &st) == 0)
		return REUSE_SYSTEM_POLICY;
	return NULL;
}

static void read_level(void)
{
	const char *v = config_env("REUSE_LOG_LEVEL");

	reuse_cfg.level = REUSE_LOG_DECISIONS;
	if (!v || !*v || strcmp(v, "decisions") == 0)
		return;
	if (strcmp(v, "off") == 0)
		reuse_cfg.level = REUSE_LOG_OFF;
	else if (strcmp(v, "all") == 0)
		reuse_cfg.level = REUSE_LOG_ALL;
	else
		log_text("REUSE_LOG_LEVEL='%.40s' is not off, decisions or all; using decisions", v);
}

/*
 * config_init - everything but the policy, for a process named prog/exe
 * (the library: the program; the supervisor: itself): whether the
 * environment may be trusted, the log, its level, dry runs.
 */
void config_init(void)
{
	const char *dry;

	reuse_cfg.secure = getauxval(AT_SECURE) != 0;
	config_absolutize_env();        /* before anything reads a path */
	log_init();
	read_level();
	/* REUSE_LOG=off: no line goes anywhere, so none is built (wants()) */
	if (!log_open())
		reuse_cfg.level = REUSE_LOG_OFF;
	dry = config_env("REUSE_DRY_RUN");
	reuse_cfg.dry_run = dry && strcmp(dry, "1") == 0;
}

/*
 * cache_dir - where this uid keeps compiled policies (its private
 * directory, see reuse_user_dir): a later process maps the image instead
 * of parsing the file again. None for a secure-execution process.
 */
static const char *cache_dir(char *dir, size_t len)
{
	if (reuse_cfg.secure || reuse_user_dir((uint32_t)geteuid(), dir, len) != 0)
		return NULL;
	return dir;
}

/*
 * config_load_policy - path's policy, or the embedded default when path is
 * NULL or empty, into reuse_cfg. One that does not parse is reported once
 * and replaced by no rule at all (fail open), or by "refuse every bind"
 * when its first rule line is `on-error closed`.
 */
void config_load_policy(const char *path)
{
	struct reuse_diag diag = { 0 };
	char dir[160];
	bool closed;

	/* init may run again in a child forked during the parent's */
	__atomic_add_fetch(&reuse_cfg.policy_gen, 1, __ATOMIC_RELAXED);
	reuse_cfg.policy_broken = reuse_cfg.fail_closed = false;
	if (path && *path)
		reuse_policy_load_cached(path, &reuse_cfg.policy, &diag, cache_dir(dir, sizeof dir));
	else
		reuse_policy_parse("default", reuse_default_policy,
				   strlen(reuse_default_policy), &reuse_cfg.policy, &diag);
	reuse_cfg.match_names = reuse_cfg.match_uids = reuse_cfg.rule_logs_all = false;
	const struct reuse_rule *reserve = NULL;
	for (size_t i = 0; i < reuse_cfg.policy.nrules; i++) {
		reuse_cfg.match_names |= reuse_cfg.policy.rules[i].program != NULL;
		reuse_cfg.match_uids |= reuse_cfg.policy.rules[i].uid >= 0;
		reuse_cfg.rule_logs_all |= reuse_cfg.policy.rules[i].log >= REUSE_LOG_ALL;
		if (!reserve && reuse_cfg.policy.rules[i].reserve)
			reserve = &reuse_cfg.policy.rules[i];
	}
	/* a reservation needs the kernel (reuse guard): say so once, so that
	 * nobody takes this process's silence for protection */
	if (reserve && reuse_cfg.level != REUSE_LOG_OFF)
		log_text("policy %s:%u: reserve is enforced only by reuse guard; here the "
			 "rule's other directives apply", path && *path ? path : "default",
			 reserve->line);
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
