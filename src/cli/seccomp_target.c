/*
 * seccomp_target.c - who made a call the filter stopped (`reuse run
 * --seccomp`), read from /proc: its credentials as the kernel would judge
 * a call made on its behalf, its names, its memory (honouring page
 * protections) and duplicates of its fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli/seccomp_int.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* What makes a bind() made here differ from the target's own: effective
 * capabilities, user namespace, LSM label (see read_target). */
static uint32_t my_caps[2];
static ino_t my_userns;
static char my_label[256];          /* "" when no LSM names tasks */

/* ---- reading the target ---------------------------------------------- */

/* The value of a "Key:\t..." line of a /proc status text, cut at newline. */
bool status_field(const char *text, const char *key, char *out,
			 size_t len)
{
	size_t kl = strlen(key);
	const char *p = text;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *v = p + kl + 1, *e = strchrnul(v, '\n');
			while (*v == '\t' || *v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)(e - v), v);
			return true;
		}
	}
	return false;
}

ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Basename of path, cut to fit (as comm is). */
static void basename_into(const char *path, char *out, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b ? b + 1 : path;
	n = strnlen(b, len - 1);
	memcpy(out, b, n);
	out[n] = '\0';
}

/* The LSM label of a task ("" if none), as /proc/PID/attr/current says. */
static void read_label(const char *pid, char *out, size_t len)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%.16s/attr/current", pid);
	if (read_small(path, out, len) <= 0)
		out[0] = '\0';
}

static bool read_caps(pid_t pid, uint32_t eff[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	eff[0] = d[0].effective;
	eff[1] = d[1].effective;
	return true;
}

/*
 * Landlock: a domain restricts the task that made it (and what it starts
 * afterwards), and no /proc file shows one. Every domain a supervised task
 * can be in is either inherited from `reuse` itself (the supervisor's own:
 * a call made here is judged alike) or made by landlock_restrict_self() in
 * a supervised task, which the filter stops (seccomp.c). Once one is seen,
 * no call is made here any more: each continues in the target, inside its
 * domain. The flag is never cleared (a domain cannot be left).
 */
static bool landlocked;

void target_landlock_seen(void)
{
	landlocked = true;
}

static const char creds_differ[] =
	"its credentials differ from the supervisor's: the call continued in the target, result not seen";
static const char in_landlock[] =
	"a supervised process made a Landlock domain (landlock_restrict_self), which a call made by the supervisor would escape: the call continued in the target, result not seen";

/*
 * read_target - who made the call: its effective uid (for uid=; the owner
 * /proc shows for a dumpable task) and whether a call made here would be
 * judged as the kernel would judge its own: the same effective
 * capabilities (CAP_NET_BIND_SERVICE, CAP_NET_ADMIN), the same user
 * namespace, the same LSM label when an LSM labels tasks, and no Landlock
 * domain of its own. false when the task is gone. A few cheap calls: this
 * runs for every notification.
 */
bool read_target(pid_t tid, struct target *t)
{
	char path[64], label[256];
	struct stat st, ns;
	uint32_t caps[2];

	memset(t, 0, sizeof *t);
	t->tid = tid;
	snprintf(path, sizeof path, "/proc/%d", (int)tid);
	if (stat(path, &st) < 0)
		return false;
	t->euid = (long)st.st_uid;
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)tid);
	t->same_creds = read_caps(tid, caps) && caps[0] == my_caps[0] &&
			caps[1] == my_caps[1] && stat(path, &ns) == 0 &&
			ns.st_ino == my_userns;
	if (t->same_creds && my_label[0]) {
		snprintf(path, sizeof path, "%d", (int)tid);
		read_label(path, label, sizeof label);
		t->same_creds = strcmp(label, my_label) == 0;
	}
	t->why_not_here = t->same_creds ? NULL : creds_differ;
	if (t->same_creds && __atomic_load_n(&landlocked, __ATOMIC_RELAXED)) {
		t->same_creds = false;
		t->why_not_here = in_landlock;
	}
	return true;
}

/* target_init - our own credentials, to compare the target's with. */
void target_init(void)
{
	struct stat ns;

	read_caps(getpid(), my_caps);
	if (stat("/proc/self/ns/user", &ns) == 0)
		my_userns = ns.st_ino;
	read_label("self", my_label, sizeof my_label);
}

/* The thread group (the pid the log shows, as getpid() in the shim). */
pid_t target_tgid(struct target *t)
{
	char path[64], buf[4096], v[32];

	if (t->tgid)
		return t->tgid;
	t->tgid = t->tid;
	snprintf(path, sizeof path, "/proc/%d/status", (int)t->tid);
	if (read_small(path, buf, sizeof buf) > 0 && status_field(buf, "Tgid", v, sizeof v))
		t->tgid = (pid_t)atoi(v);
	return t->tgid;
}

/*
 * target_names - the basenames program= matches and the log shows, as the
 * shim sees them: argv[0] and the executable. Read only for a policy with
 * program= rules or a line to log (two /proc reads a call otherwise).
 */
void target_names(struct target *t)
{
	char path[64], buf[4096], exe[PATH_MAX];
	ssize_t n;

	if (t->prog[0])
		return;
	target_tgid(t);
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)t->tgid);
	if (read_small(path, buf, sizeof buf) > 0 && buf[0])
		basename_into(buf, t->prog, sizeof t->prog);
	snprintf(path, sizeof path, "/proc/%d/exe", (int)t->tgid);
	n = readlink(path, exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		basename_into(exe, t->exe, sizeof t->exe);
	}
	if (!t->prog[0])
		snprintf(t->prog, sizeof t->prog, "%s", t->exe[0] ? t->exe : "?");
}

/*
 * Copy len bytes at addr in the task's memory with process_vm_readv/writev,
 * which honour page protections and fail as the kernel's own copy would
 * (/proc/PID/mem would not: it writes read-only pages). Both need the
 * ptrace access a parent has over its own dumpable child.
 */
bool mem_read(pid_t tid, uint64_t addr, void *dst, size_t len)
{
	struct iovec l = { dst, len }, r = { (void *)(uintptr_t)addr, len };

	return addr && process_vm_readv(tid, &l, 1, &r, 1, 0) == (ssize_t)len;
}

bool mem_write(pid_t tid, uint64_t addr, const void *src, size_t len)
{
	struct iovec l = { (void *)src, len }, r = { (void *)(uintptr_t)addr, len };

	return addr && process_vm_writev(tid, &l, 1, &r, 1, 0) == (ssize_t)len;
}

/*
 * Our duplicate of the task's fd: from the thread's own fd table
 * (PIDFD_THREAD, Linux 6.9), else the process's. -1 when it is not an fd
 * or we may not. Pidfds are kept per thread id (a small direct-mapped
 * cache): one of a task that is gone answers ESRCH, and is replaced, so a
 * reused id never reaches the wrong task.
 */
#define PIDFD_SLOTS 64
static struct {
	pid_t tid;
	int fd;
} pidfds[PIDFD_SLOTS];

static int open_pidfd(struct target *t)
{
	int pfd = (int)syscall(SYS_pidfd_open, t->tid, PIDFD_THREAD);

	if (pfd < 0)
		pfd = (int)syscall(SYS_pidfd_open, target_tgid(t), 0);
	return pfd;
}

int take_fd(struct target *t, int fd, int *pidfd)
{
	unsigned i = (unsigned)t->tid % PIDFD_SLOTS;
	int d;

	for (int tries = 0; tries < 2; tries++) {
		if (pidfds[i].tid != t->tid) {    /* tid 0: an empty slot */
			if (pidfds[i].tid)
				close(pidfds[i].fd);
			pidfds[i].tid = 0;
			if ((pidfds[i].fd = open_pidfd(t)) < 0)
				return -1;
			pidfds[i].tid = t->tid;
		}
		d = (int)syscall(SYS_pidfd_getfd, pidfds[i].fd, fd, 0);
		if (pidfd)
			*pidfd = pidfds[i].fd;
		if (d >= 0 || errno != ESRCH)
			return d;
		close(pidfds[i].fd);      /* that task is gone: open afresh */
		pidfds[i].tid = 0;
	}
	return -1;
}
