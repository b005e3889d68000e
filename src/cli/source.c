/*
 * source.c - which policy the library would load, and loading one with
 * every problem reported the way `reuse check` promises.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "core/core.h"

/* The policy the library would load (reuse.policy(5), DESCRIPTION):
 * core/config.c decides for both. */
const char *policy_in_force(void)
{
	return config_policy_path();
}

/* The embedded policy is "default" in diagnostics and in the log's rule=. */
const char *policy_name(const char *path)
{
	return path ? path : "default";
}

/*
 * Parse a policy and print its diagnostics verbatim (they are already
 * FILE:LINE:COLUMN: error: ...). A failure the parser leaves unexplained,
 * such as a file that cannot be opened, still gets one line.
 */
int policy_load_report(const char *path, struct reuse_policy *out)
{
	return policy_text_report(path, NULL, 0, out);
}

/* policy_load_report for text already read (text NULL: read path, or the
 * embedded default when path is NULL too); name is used in diagnostics. */
int policy_text_report(const char *name, const char *text, size_t len,
		       struct reuse_policy *out)
{
	const char *path = name;
	struct reuse_diag diag = { 0 };
	int rc, saved;

	memset(out, 0, sizeof *out);
	errno = 0;
	if (text)
		rc = reuse_policy_parse(name, text, len, out, &diag);
	else if (path)
		rc = reuse_policy_load(path, out, &diag);
	else
		rc = reuse_policy_parse("default", reuse_default_policy,
					strlen(reuse_default_policy), out,
					&diag);
	saved = errno;
	if (diag.len > 0) {
		fflush(stdout);
		fwrite(diag.text, 1, diag.len, stderr);
		if (diag.text[diag.len - 1] != '\n')
			fputc('\n', stderr);
	}
	if (rc == 0 && diag.errors == 0) {
		reuse_diag_free(&diag);
		return 0;
	}
	if (diag.len == 0)
		cli_error("%s: %s", policy_name(path),
			  saved ? strerror(saved) : "cannot load the policy");
	reuse_diag_free(&diag);
	reuse_policy_free(out);
	memset(out, 0, sizeof *out);
	return -1;
}
