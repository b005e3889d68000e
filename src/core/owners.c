/*
 * owners.c - which process holds a socket inode, and its options.
 *
 * sock_diag (diag.c) knows a socket's inode and owner uid, not its
 * process: /proc/<pid>/fd links name the inode, and pidfd_getfd() gives a
 * second fd on the socket to read SO_REUSEADDR/SO_REUSEPORT through. No
 * allocation (getdents64 on a stack buffer), so it can run inside the
 * library after a failed bind; errno is preserved.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "sys.h"

struct dirent64_ {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* A directory under dirfd (or absolute path), opened without libc's DIR
 * (which allocates): the caller reads it with getdents64. */
static int open_dir(int dirfd, const char *path)
{
	return (int)syscall(SYS_openat, dirfd, path,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* "123" -> 123; -1 if the name is not all digits. */
static long parse_num(const char *s)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* The socket inode an fd link names ("socket:[12345]"), or 0. */
static uint64_t link_inode(int dirfd, const char *name)
{
	char l[64];
	ssize_t n = readlinkat(dirfd, name, l, sizeof l - 1);
	uint64_t v = 0;

	if (n < 9 || memcmp(l, "socket:[", 8) != 0)
		return 0;
	for (ssize_t i = 8; i < n && l[i] != ']'; i++) {
		if (l[i] < '0' || l[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(l[i] - '0');
	}
	return v;
}

/* Every fd of one process (its open /proc/<pid>/fd, closed here): report
 * those naming a wanted inode. With `left` (a bit per inode still
 * unowned), only those, and stop once none is left. */
static void scan_fd_dir(int dfd, long pid, const uint64_t *ino, size_t n,
			void (*found)(size_t, int, int, void *), void *ctx,
			uint32_t *left)
{
	union { struct dirent64_ align; char b[4096]; } buf;
	long r;

	while ((r = syscall(SYS_getdents64, dfd, buf.b, sizeof buf.b)) > 0) {
		for (long off = 0; off < r;) {
			struct dirent64_ *d = (struct dirent64_ *)(buf.b + off);
			off += d->d_reclen;
			long fd = parse_num(d->d_name);
			uint64_t i = fd >= 0 ? link_inode(dfd, d->d_name) : 0;
			if (!i)
				continue;
			for (size_t k = 0; k < n; k++) {
				if (ino[k] != i || (left && !(*left & 1u << k)))
					continue;
				found(k, (int)pid, (int)fd, ctx);
				if (left && !(*left &= ~(1u << k)))
					goto out;
			}
		}
	}
out:
	sys_close(dfd);
}

static int open_fd_dir(int proc, long pid)
{
	char path[32];

	snprintf(path, sizeof path, "%ld/fd", pid);
	return open_dir(proc, path);
}

static void scan_fds(int proc, long pid, const uint64_t *ino, size_t n,
		     void (*found)(size_t, int, int, void *), void *ctx,
		     uint32_t *left)
{
	int dfd = open_fd_dir(proc, pid);

	if (dfd >= 0)
		scan_fd_dir(dfd, pid, ino, n, found, ctx, left);
}

/*
 * explain_find_owners - sock_diag knows a socket's inode and uid, not its
 * process; /proc/<pid>/fd links know the inode. One pass over /proc, no
 * allocation (getdents64 on a stack buffer), so it can run inside the
 * library after a failed bind. Processes we may not look into are skipped.
 */
void explain_find_owners(const uint64_t *ino, size_t n,
			 void (*found)(size_t i, int pid, int fd, void *ctx),
			 void *ctx)
{
	int saved = errno;
	union { struct dirent64_ align; char b[4096]; } buf;
	long r;

	int proc = open_dir(AT_FDCWD, "/proc");
	if (proc < 0 || n == 0)
		goto out;
	while ((r = syscall(SYS_getdents64, proc, buf.b, sizeof buf.b)) > 0) {
		for (long off = 0; off < r;) {
			struct dirent64_ *d = (struct dirent64_ *)(buf.b + off);
			off += d->d_reclen;
			long pid = parse_num(d->d_name);
			if (pid > 0)
				scan_fds(proc, pid, ino, n, found, ctx, NULL);
		}
	}
out:
	if (proc >= 0)
		sys_close(proc);
	errno = saved;
}

/* Processes with more fds are read after the others: reading an fd link
 * costs a few us, and one program holding 20,000 fds would otherwise cost
 * every explanation 60 ms. Small ones first, then medium ones, of the
 * holders' uids. */
#define OWNER_SMALL_FDS 128
#define OWNER_MEDIUM_FDS 1024
#define OWNER_LATER 256              /* processes put off, remembered */

struct first {
	const uint64_t *ino;
	const uint32_t *uid;
	size_t n;
	uint32_t left;
	void (*found)(size_t, int, int, void *);
	void *ctx;
	bool sized;                  /* /proc/<pid>/fd's size counts its fds */
	long later[OWNER_LATER];
	bool medium[OWNER_LATER];    /* of a holder's uid, at most OWNER_MEDIUM_FDS */
	unsigned nlater;
	bool overflow;               /* more were put off than remembered */
};

/* One process of the first pass: read now if it runs as a holder's uid
 * and is small, put off if not, skipped if it has no fd at all (a kernel
 * thread). Its fd directory's owner and size say which, in one fstat. */
static void first_visit(struct first *f, int proc, long pid)
{
	struct stat st;
	size_t k;
	int dfd = open_fd_dir(proc, pid);

	if (dfd < 0)
		return;
	if (sys_fstat(dfd, &st) < 0) {
		sys_close(dfd);
		return;
	}
	if (f->sized && st.st_size == 0) {
		sys_close(dfd);
		return;
	}
	for (k = 0; k < f->n && f->uid[k] != (uint32_t)st.st_uid; k++)
		;
	if (k < f->n && (!f->sized || st.st_size <= OWNER_SMALL_FDS)) {
		scan_fd_dir(dfd, pid, f->ino, f->n, f->found, f->ctx, &f->left);
		return;
	}
	sys_close(dfd);
	if (f->nlater < OWNER_LATER) {
		f->medium[f->nlater] = k < f->n && st.st_size <= OWNER_MEDIUM_FDS;
		f->later[f->nlater++] = pid;
	} else {
		f->overflow = true;
	}
}

/* Walk /proc in pid order: first pass (after) = 0, or the processes put
 * off past the remembered ones (after = the last remembered pid). */
static void walk_proc(struct first *f, int proc, long self, long after)
{
	union { struct dirent64_ align; char b[4096]; } buf;
	long r;

	if (lseek(proc, 0, SEEK_SET) < 0)
		return;
	while (f->left && (r = syscall(SYS_getdents64, proc, buf.b, sizeof buf.b)) > 0) {
		for (long off = 0; f->left && off < r;) {
			struct dirent64_ *d = (struct dirent64_ *)(buf.b + off);
			off += d->d_reclen;
			long pid = parse_num(d->d_name);
			if (pid <= 0 || pid == self)
				continue;
			if (!after)
				first_visit(f, proc, pid);
			else if (pid > after)
				scan_fds(proc, pid, f->ino, f->n, f->found, f->ctx, &f->left);
		}
	}
}

/*
 * find_first - one process for each inode, found cheaply: the caller
 * itself first (a program that fails against its own socket), then the
 * small, then the medium processes of the holders' uids, then the rest,
 * each group in pid order, stopping once every inode has one. The log line names a process
 * holding the socket; `reuse who` counts them all (explain_find_owners).
 */
static void find_first(struct first *f)
{
	struct stat st;
	long self = getpid();
	int proc = open_dir(AT_FDCWD, "/proc");

	if (proc < 0)
		return;
	/* fd directories have a size since Linux 6.2: ours is not empty */
	f->sized = fstatat(proc, "self/fd", &st, 0) == 0 && st.st_size > 0;
	scan_fds(proc, self, f->ino, f->n, f->found, f->ctx, &f->left);
	if (f->left)
		walk_proc(f, proc, self, 0);
	for (int medium = 1; medium >= 0; medium--)
		for (unsigned i = 0; f->left && i < f->nlater; i++)
			if (f->medium[i] == medium)
				scan_fds(proc, f->later[i], f->ino, f->n, f->found,
					 f->ctx, &f->left);
	/* sorted: getdents lists /proc's processes in pid order */
	if (f->left && f->overflow)
		walk_proc(f, proc, self, f->later[OWNER_LATER - 1]);
	sys_close(proc);
}

/* /proc/<pid>/comm, newline cut; "" if unreadable. */
static void read_comm(int pid, char *out, size_t len)
{
	char path[32];
	ssize_t n;

	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, len - 1);
	sys_close(fd);
	if (n <= 0)
		n = 0;
	out[n] = '\0';
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
}

/*
 * explain_peer_flags - the only way to read another process's socket
 * options: pidfd_getfd() gives us a second fd on the same socket (ptrace
 * rights over the owner: root, or same uid and dumpable). The copy is
 * checked to be the inode we meant (the fd number may have been reused)
 * and closed at once.
 */
bool explain_peer_flags(int pid, int fd, uint64_t ino, int8_t *ra, int8_t *rp)
{
	int saved = errno;
	struct stat st;
	bool ok = false;

	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		goto out;
	int copy = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	sys_close(pfd);
	if (copy < 0)
		goto out;
	if (sys_fstat(copy, &st) == 0 && (uint64_t)st.st_ino == ino) {
		int a = sys_getflag(copy, SO_REUSEADDR);
		int p = sys_getflag(copy, SO_REUSEPORT);
		if (a >= 0 && p >= 0) {
			*ra = (int8_t)a;
			*rp = (int8_t)p;
			ok = true;
		}
	}
	sys_close(copy);
out:
	errno = saved;
	return ok;
}

static void owner_found(size_t i, int pid, int fd, void *ctx)
{
	struct reuse_holder *h = &((struct reuse_holder_list *)ctx)->h[i];

	h->nprocs++;
	if (h->pid < 0) {
		h->pid = pid;
		h->fd = fd;
	}
}

/* Program and flags of each holder whose process was found. */
static void fill_found(struct reuse_holder_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct reuse_holder *h = &l->h[i];
		if (h->pid < 0)
			continue;
		read_comm(h->pid, h->comm, sizeof h->comm);
		explain_peer_flags(h->pid, h->fd, h->ino, &h->ra, &h->rp);
	}
}

/* explain_fill_owners - pid, program and flags of each listed holder;
 * every process holding each is counted (nprocs). */
void explain_fill_owners(struct reuse_holder_list *l)
{
	uint64_t ino[REUSE_HOLDERS_MAX];

	for (unsigned i = 0; i < l->n; i++)
		ino[i] = l->h[i].ino;
	explain_find_owners(ino, l->n, owner_found, l);
	fill_found(l);
}

_Static_assert(REUSE_HOLDERS_MAX <= 32, "one bit per holder");

/* explain_first_owners - explain_fill_owners for the log line: one process
 * per holder (find_first), nprocs not counted. */
void explain_first_owners(struct reuse_holder_list *l)
{
	int saved = errno;
	uint64_t ino[REUSE_HOLDERS_MAX];
	uint32_t uid[REUSE_HOLDERS_MAX];
	struct first f = { .ino = ino, .uid = uid, .n = l->n, .found = owner_found,
			   .ctx = l };

	for (unsigned i = 0; i < l->n; i++) {
		ino[i] = l->h[i].ino;
		uid[i] = l->h[i].uid;
		if (ino[i])              /* an orphan has no inode, no process */
			f.left |= 1u << i;
	}
	if (f.left)
		find_first(&f);
	fill_found(l);
	errno = saved;
}
