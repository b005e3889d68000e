/*
 * policy_cache.c - a policy compiled once and mapped by later processes.
 *
 * Parsing and indexing cost thousands of instructions per rule in every
 * process that starts. reuse_policy_load_cached keeps, in the caller's
 * private directory (one only its uid can write: see reuse_user_dir in
 * handoff.c), an image of the parsed policy and its index: every structure
 * laid out in one block whose pointers are valid at one fixed address.
 * A later process maps the file read-only at that address (MAP_FIXED_
 * NOREPLACE: never over anything) and uses it as it is: no parse, no
 * index build, no pointer fix-up, whatever the policy's size. Only the
 * identities' indices (policy_index.c), built at run time, live outside.
 *
 * The policy file is still opened, checked (StrictModes for root) and read
 * as reuse_policy_load does, so its diagnostics are the same; only a
 * policy that parsed without an error is kept. An image is used only when
 * it names the same file (path, device, inode, size, change and
 * modification times) and was written by a library of the same build id,
 * and when the file is a regular file of this uid, mode 0600, in a 0700
 * directory of this uid: an image another uid could have written is
 * never mapped. Anything else (no directory, a taken address, an old
 * image) falls back to parsing; the image is then rewritten (a new file,
 * renamed over the old).
 */
#include <link.h>
#include <sys/mman.h>

#include "policy_int.h"
#include "policy_ix.h"

#define IMAGE_MAGIC "LRPOLIM1"
#define IMAGE_BASE 0x200000000000ULL         /* addresses: 32 TiB up ... */
#define IMAGE_SLOTS 0x200000ULL              /* ... in 2^21 slots of 2 MiB */
#define IMAGE_ALIGN ((uint64_t)2 << 20)
#define CACHE_MIN 1024                       /* smaller policies are parsed */

struct image_key {
	uint64_t dev, ino, size;
	int64_t mtime, mtime_ns, ctime, ctime_ns;
	uint32_t path_len;
	uint8_t build_id[20];
};

struct image_hdr {
	char magic[8];
	uint32_t layout;             /* the structures' sizes, folded */
	uint32_t pad;
	struct image_key key;
	uint64_t addr, size;         /* where it maps, how long the file is */
	uint64_t policy;             /* offset of its struct reuse_policy */
	/* then the policy's path, path_len bytes */
};

static uint32_t layout_sig(void)
{
	return (uint32_t)(sizeof(struct reuse_rule) * 131 + sizeof(struct reuse_policy) * 7 +
			  sizeof(struct port_index) * 17 + sizeof(struct group) * 19 +
			  sizeof(struct host_index) * 23 + sizeof(struct reuse_index) * 29 +
			  sizeof(struct family_index)) ^ 0x10001u;
}

/* Our GNU build id, from our own program headers; false without one. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
static bool build_id(uint8_t out[20])
{
	const ElfW(Ehdr) *eh = (const void *)__ehdr_start;
	const ElfW(Phdr) *ph = (const void *)(__ehdr_start + eh->e_phoff);
	const ElfW(Phdr) *load = NULL;

	for (unsigned i = 0; i < eh->e_phnum && !load; i++)
		if (ph[i].p_type == PT_LOAD)
			load = &ph[i];
	for (unsigned i = 0; load && i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		const char *n = __ehdr_start + ph[i].p_vaddr - load->p_vaddr;
		const char *end = n + ph[i].p_memsz;
		while (n + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const void *)n;
			const char *desc = n + sizeof *nh + ((nh->n_namesz + 3) & ~3u);
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(n + sizeof *nh, "GNU", 4) && desc + nh->n_descsz <= end) {
				memset(out, 0, 20);
				memcpy(out, desc, nh->n_descsz < 20 ? nh->n_descsz : 20);
				return true;
			}
			n = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	return false;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* The key of the file read; false when it cannot have an image. */
static bool key_of(const char *path, const struct stat *st, struct image_key *k,
		   uint64_t *hash)
{
	size_t n = strlen(path);

	memset(k, 0, sizeof *k);
	if (!S_ISREG(st->st_mode) || n > 4096 || !build_id(k->build_id))
		return false;
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	k->size = (uint64_t)st->st_size;
	k->mtime = st->st_mtim.tv_sec;
	k->mtime_ns = st->st_mtim.tv_nsec;
	k->ctime = st->st_ctim.tv_sec;
	k->ctime_ns = st->st_ctim.tv_nsec;
	k->path_len = (uint32_t)n;
	uint64_t h = 0xcbf29ce484222325ULL;
	const uint8_t *b = (const void *)k;
	for (size_t i = 0; i < sizeof *k; i++)
		h = mix(h, b[i]);
	for (size_t i = 0; i < n; i++)
		h = mix(h, (uint8_t)path[i]);
	*hash = h;
	return true;
}

/* Whether dir is a directory of this uid that no one else may enter. */
static bool private_dir(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & 077);
}

/* ---- writing an image ---------------------------------------------- */

/* A bump allocator over the image being built at `base`; with copy false
 * it only measures. */
struct arena {
	char *base;
	size_t off;
	bool copy;
};

static void *put(struct arena *a, const void *src, size_t n)
{
	a->off = (a->off + 15) & ~(size_t)15;
	char *p = a->base + a->off;
	if (a->copy && n && src)
		memcpy(p, src, n);
	a->off += n;
	return n ? p : NULL;
}

static void put_ports(struct arena *a, struct port_index **pxp)
{
	const struct port_index *x = *pxp;
	struct port_index *d = put(a, x, sizeof *x);
	uint16_t *start = put(a, x->start, x->nseg * sizeof *x->start);
	uint16_t *fine = put(a, x->fine, (size_t)x->nrows * 256 * sizeof *x->fine);
	uint32_t *first = x->first ? put(a, x->first, x->nseg * sizeof *x->first) : NULL;
	uint32_t *off = x->off ? put(a, x->off, (x->nseg + 1) * sizeof *x->off) : NULL;
	uint32_t *ids = x->off ? put(a, x->ids, x->off[x->nseg] * sizeof *x->ids) : NULL;
	uint32_t *loose = x->loose ? put(a, x->loose, x->nloose * sizeof *x->loose) : NULL;
	if (a->copy) {
		d->start = start;
		d->fine = fine;
		d->first = first;
		d->off = off;
		d->ids = off ? ids : NULL;
		d->loose = loose;
		*pxp = d;
	}
}

static void put_hosts(struct arena *a, struct host_index *d, const struct host_index *x)
{
	struct group *groups = put(a, x->groups, x->ngroups * sizeof *groups);
	uint32_t *ids = put(a, x->ids, (x->ngroups ? x->groups[x->ngroups - 1].off +
					x->groups[x->ngroups - 1].n : 0) * sizeof *ids);
	uint32_t *slot[2], *by16[2];

	for (int f = 0; f < 2; f++) {
		slot[f] = put(a, x->fam[f].slot, ((size_t)x->fam[f].mask + 1) * sizeof *slot[f]);
		by16[f] = x->fam[f].by16 ? put(a, x->fam[f].by16, 65536 * sizeof *by16[f]) : NULL;
	}
	for (size_t g = 0; g < x->ngroups; g++) {
		struct port_index *px = x->groups[g].px;
		if (px) {
			put_ports(a, &px);
			if (a->copy)
				groups[g].px = px;
		}
	}
	if (a->copy) {
		d->groups = groups;
		d->ids = ids;
		for (int f = 0; f < 2; f++) {
			d->fam[f].slot = slot[f];
			d->fam[f].by16 = by16[f];
		}
	}
}

/* put_policy - the whole policy; returns its copy in the image. */
static struct reuse_policy *put_policy(struct arena *a, const struct reuse_policy *p)
{
	struct reuse_policy *d = put(a, p, sizeof *p);
	struct reuse_rule *rules = put(a, p->rules, p->nrules * sizeof *rules);
	char *source = put(a, p->source, strlen(p->source) + 1);
	struct reuse_index *ix = p->index ? put(a, p->index, sizeof *ix) : NULL;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		struct reuse_ports *ports = put(a, r->ports, r->nports * sizeof *ports);
		char *prog = r->program ? put(a, r->program, strlen(r->program) + 1) : NULL;
		if (a->copy) {
			rules[i].ports = ports;
			rules[i].program = prog;
		}
	}
	if (ix) {
		if (a->copy)
			memset(ix->ident, 0, sizeof ix->ident);
		put_hosts(a, a->copy ? &ix->by_proto[0] : NULL, &p->index->by_proto[0]);
		put_hosts(a, a->copy ? &ix->by_proto[1] : NULL, &p->index->by_proto[1]);
	}
	if (a->copy) {
		d->rules = rules;
		d->source = source;
		d->index = ix;
		d->image = NULL;
		d->image_len = 0;
	}
	return d;
}

/* image_store - write p's image as dir/policy-HASH (best effort). */
static void image_store(const char *dir, const char *path, const struct image_key *k,
			uint64_t hash, const struct reuse_policy *p)
{
	struct image_hdr h = { .magic = IMAGE_MAGIC, .layout = layout_sig(), .key = *k };
	struct arena a = { .base = (char *)(uintptr_t)(IMAGE_BASE +
						      (hash % IMAGE_SLOTS) * IMAGE_ALIGN) };
	char name[PATH_MAX - 16], tmp[PATH_MAX];

	a.off = sizeof h + k->path_len;
	h.policy = (uint64_t)((char *)put_policy(&a, p) - a.base);
	h.size = a.off;
	h.addr = (uint64_t)(uintptr_t)a.base;
	char *m = mmap(a.base, h.size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m == MAP_FAILED)
		return;
	if (m != a.base) {                    /* a kernel without NOREPLACE */
		munmap(m, h.size);
		return;
	}
	memcpy(m, &h, sizeof h);
	memcpy(m + sizeof h, path, k->path_len);
	a.off = sizeof h + k->path_len;
	a.copy = true;
	put_policy(&a, p);
	int fd = -1;
	if (snprintf(name, sizeof name, "%s/policy-%016llx", dir,
		     (unsigned long long)hash) < (int)sizeof name &&
	    snprintf(tmp, sizeof tmp, "%s.%d", name, (int)getpid()) < (int)sizeof tmp)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		size_t done = 0;
		while (done < h.size) {
			ssize_t w = write(fd, m + done, h.size - done);
			if (w <= 0 && errno != EINTR)
				break;
			if (w > 0)
				done += (size_t)w;
		}
		sys_close(fd);
		if (done != h.size || rename(tmp, name) < 0)
			unlink(tmp);
	}
	munmap(m, h.size);
}

/* ---- mapping an image ---------------------------------------------- */

/* image_map - the image of this file, mapped and checked, into *out. */
static bool image_map(const char *dir, const char *path, const struct image_key *k,
		      uint64_t hash, struct reuse_policy *out)
{
	char name[PATH_MAX], got[4097];
	struct image_hdr h;
	struct stat st;
	bool ok = false;

	if (snprintf(name, sizeof name, "%s/policy-%016llx", dir,
		     (unsigned long long)hash) >= (int)sizeof name)
		return false;
	int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (sys_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) || (size_t)st.st_size < sizeof h + k->path_len ||
	    pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    pread(fd, got, k->path_len, sizeof h) != (ssize_t)k->path_len)
		goto out;
	if (memcmp(h.magic, IMAGE_MAGIC, 8) || h.layout != layout_sig() ||
	    memcmp(&h.key, k, sizeof *k) || memcmp(got, path, k->path_len) ||
	    h.size != (uint64_t)st.st_size ||
	    h.addr != IMAGE_BASE + (hash % IMAGE_SLOTS) * IMAGE_ALIGN ||
	    h.policy < sizeof h || h.policy + sizeof *out > h.size)
		goto out;
	char *m = mmap((void *)(uintptr_t)h.addr, h.size, PROT_READ,
		       MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
	if (m == MAP_FAILED)
		goto out;
	if (m != (char *)(uintptr_t)h.addr) {
		munmap(m, h.size);
		goto out;
	}
	*out = *(const struct reuse_policy *)(m + h.policy);
	if (out->index) {                     /* the identities' part is ours */
		struct reuse_index *shell = malloc(sizeof *shell);
		if (!shell) {
			munmap(m, h.size);
			memset(out, 0, sizeof *out);
			goto out;
		}
		*shell = *out->index;
		memset(shell->ident, 0, sizeof shell->ident);
		out->index = shell;
	}
	out->image = m;
	out->image_len = h.size;
	ok = true;
out:
	sys_close(fd);
	return ok;
}

/* image_free - reuse_policy_free of a mapped policy. */
void policy_image_free(struct reuse_policy *p)
{
	if (p->index)
		index_free_shell(p->index);
	munmap(p->image, p->image_len);
	memset(p, 0, sizeof *p);
}

/*
 * reuse_policy_load_cached - reuse_policy_load, through an image in dir
 * (the caller's private directory; NULL: none).
 */
int reuse_policy_load_cached(const char *path, struct reuse_policy *out,
			     struct reuse_diag *diag, const char *dir)
{
	struct image_key k;
	struct stat st;
	uint64_t hash = 0;
	char *buf = NULL;
	size_t len = 0;

	if (policy_read_st(path, &buf, &len, &st, diag)) {
		memset(out, 0, sizeof *out);
		out->source = path ? strdup(path) : NULL;
		return 1;
	}
	/* a few lines parse faster than an image is found and mapped */
	bool cache = dir && len >= CACHE_MIN && key_of(path, &st, &k, &hash) &&
		     private_dir(dir);
	if (cache && image_map(dir, path, &k, hash, out)) {
		free(buf);
		return 0;
	}
	int n = reuse_policy_parse(path, buf, len, out, diag);
	free(buf);
	if (cache && n == 0)
		image_store(dir, path, &k, hash, out);
	return n;
}
