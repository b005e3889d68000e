/*
 * logcap.c - what the core's log wrote, captured per write(2) call.
 *
 * The unit binary links the core statically, so this definition of
 * write() is the one log.c's emit() calls: every call while capturing is
 * kept as one record (and still made), so a test sees each line exactly as
 * it reached the kernel and how many calls it took. The log goes to
 * /dev/null: a regular destination, written with plain write(2).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/core.h"
#include "unit.h"

#define CAP_MAX 64
#define CAP_BYTES 4096

static struct {
	bool on;
	size_t n;
	size_t len[CAP_MAX];
	char buf[CAP_MAX][CAP_BYTES + 1];
} cap;

ssize_t write(int fd, const void *buf, size_t n)
{
	/* fds 0-2 are the TAP stream's; the log's own fd is a high one */
	if (cap.on && fd > 2 && cap.n < CAP_MAX) {
		size_t k = n < CAP_BYTES ? n : CAP_BYTES;
		memcpy(cap.buf[cap.n], buf, k);
		cap.buf[cap.n][k] = '\0';
		cap.len[cap.n++] = n;
	}
	return syscall(SYS_write, fd, buf, n);
}

void logcap_start(const char *format, const char *level)
{
	setenv("REUSE_LOG", "/dev/null", 1);
	setenv("REUSE_LOG_FORMAT", format, 1);
	if (level)
		setenv("REUSE_LOG_LEVEL", level, 1);
	else
		unsetenv("REUSE_LOG_LEVEL");
	unsetenv("REUSE_DRY_RUN");
	snprintf(reuse_cfg.prog, sizeof reuse_cfg.prog, "unitprog");
	snprintf(reuse_cfg.exe, sizeof reuse_cfg.exe, "unitexe");
	config_init();
	cap.on = true;
	cap.n = 0;
}

void logcap_clear(void)
{
	cap.n = 0;
}

size_t logcap_n(void)
{
	return cap.n;
}

const char *logcap_line(size_t i)
{
	return i < cap.n ? cap.buf[i] : "";
}

size_t logcap_len(size_t i)
{
	return i < cap.n ? cap.len[i] : 0;
}

/* A text line after "libreuse[PID]: TIMESTAMP ", without its newline, in
 * out; "" if the line is not of that shape. */
const char *logcap_body(size_t i, char *out, size_t len)
{
	const char *l = logcap_line(i), *p = strstr(l, "]: ");
	size_t n;

	out[0] = '\0';
	if (strncmp(l, "libreuse[", 9) != 0 || !p || strlen(p) < 3 + 25 || p[3 + 24] != ' ')
		return out;
	p += 3 + 25;                          /* "2026-01-01T00:00:00.000Z " */
	n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

/* Load text as the policy in force, through the core's own loader (a file,
 * as REUSE_POLICY names one); its path in path. */
void unit_policy(const char *text, char *path, size_t plen)
{
	static char file[64];
	FILE *f;
	int fd;

	if (!file[0]) {
		snprintf(file, sizeof file, "/tmp/unit-policy-XXXXXX");
		fd = mkstemp(file);
		if (fd >= 0)
			close(fd);
	}
	f = fopen(file, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	if (reuse_cfg.policy.rules || reuse_cfg.policy.source)
		reuse_policy_free(&reuse_cfg.policy);
	memset(&reuse_cfg.policy, 0, sizeof reuse_cfg.policy);
	config_load_policy(file);
	if (path)
		snprintf(path, plen, "%s", file);
}

void unit_policy_done(void)
{
	char path[64];

	unit_policy("", path, sizeof path);
	unlink(path);
}
