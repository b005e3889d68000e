/*
 * test_policy_cache.c - a policy compiled once and mapped by later loads
 * (reuse_policy_load_cached, src/core/policy_cache.c).
 *
 * The mapped policy must decide every socket as the parsed one does; an
 * image is used only for the same file, only from a private directory,
 * only when no other uid could have written it; a broken policy gets the
 * same diagnostics and no image.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libreuse.h"
#include "tap.h"
#include "unit.h"

static uint64_t seed = 0x5eedcac4e;

static unsigned rnd(unsigned n)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(seed >> 33) % n;
}

static const char *const names[] = { "a", "b", "prog1", "zz" };

/* A policy of n rules of every kind: hosts of both families, ports,
 * program=, uid=, all three protocols. */
static char *gen(unsigned n, size_t *len)
{
	static const char *const protos[] = { "tcp", "udp", "any" };
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%s ", protos[rnd(3)]);
		switch (rnd(4)) {
		case 0: fprintf(f, "10.%u.0.0/16:", rnd(4)); break;
		case 1: fprintf(f, "[2001:db8:%x::]/48:", rnd(4)); break;
		case 2: fprintf(f, "127.0.0.1:"); break;
		default: fprintf(f, "*:"); break;
		}
		if (rnd(3))
			fprintf(f, "%u-%u", 1000 + rnd(50), 1050 + rnd(50));
		else
			fprintf(f, "*");
		if (rnd(5) == 0)
			fprintf(f, " program=%s", names[rnd(4)]);
		if (rnd(5) == 0)
			fprintf(f, " uid=%u", rnd(3));
		fprintf(f, " %s\n", rnd(2) ? "reuseaddr=force" : "reuseport=strip");
	}
	fclose(f);
	return text;
}

static struct reuse_subject subject(void)
{
	struct reuse_subject s = { .proto = rnd(2) ? REUSE_P_TCP : REUSE_P_UDP };

	if (rnd(2)) {
		s.family = AF_INET;
		s.addr[0] = rnd(2) ? 10 : 127;
		s.addr[1] = (uint8_t)rnd(5);
		s.addr[3] = 1;
	} else {
		static const uint8_t v6[] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0 };
		s.family = AF_INET6;
		memcpy(s.addr, v6, sizeof v6);
		s.addr[5] = (uint8_t)rnd(5);
	}
	s.port = (uint16_t)(990 + rnd(120));
	s.prog = names[rnd(4)];
	s.exe = names[rnd(4)];
	s.uid = rnd(3);
	return s;
}

/* Rule lines of the answers, or 0 for none: what both policies decide. */
static unsigned differ(const struct reuse_policy *a, const struct reuse_policy *b,
		       unsigned n)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < n; i++) {
		struct reuse_subject s = subject();
		const struct reuse_rule *x = reuse_policy_match(a, &s), *y = reuse_policy_match(b, &s);
		bad += (x ? x->line : 0) != (y ? y->line : 0);
	}
	return bad;
}

static bool write_text(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	bool good = fd >= 0 && write(fd, text, len) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return good;
}

/* the image files of dir, counted */
static unsigned images(const char *dir)
{
	char cmd[256];
	unsigned n = 0;

	snprintf(cmd, sizeof cmd, "ls %s | grep -c '^policy-'", dir);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%u", &n) != 1)
			n = 0;
		pclose(p);
	}
	return n;
}

void test_policy_cache(void)
{
	char dir[] = "/tmp/reuse-cache-XXXXXX", path[64], img[160];
	struct reuse_policy parsed, first, mapped;
	struct reuse_diag d = { 0 };
	size_t len;

	if (!mkdtemp(dir)) {
		ok(false, "cache: mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof path, "%s/p.policy", dir);
	char *text = gen(3000, &len);
	ok(write_text(path, text, len), "cache: policy written");
	ok(reuse_policy_parse(path, text, len, &parsed, &d) == 0, "cache: the policy parses");

	ok(reuse_policy_load_cached(path, &first, &d, dir) == 0 && !first.image &&
	   images(dir) == 1, "cache: the first load parses and leaves one image");
	ok(reuse_policy_load_cached(path, &mapped, &d, dir) == 0 && mapped.image &&
	   mapped.nrules == parsed.nrules && mapped.index &&
	   strcmp(mapped.source, path) == 0, "cache: the next load maps it");
	/* (before the slots fill with the identities differ() draws) */
	ok(reuse_policy_ident(&mapped, &(struct reuse_subject){ .prog = "a", .uid = 1 }) != NULL,
	   "cache: identities get their own index over a mapped policy");
	ok(differ(&parsed, &mapped, 50000) == 0, "cache: the mapped policy decides as the parsed one");
	reuse_policy_free(&mapped);
	ok(!mapped.image && !mapped.rules, "cache: free unmaps");

	/* an image another uid could write is not used */
	snprintf(img, sizeof img, "ls %s/policy-* > %s/list", dir, dir);
	char name[160] = "";
	if (system(img) == 0) {
		snprintf(img, sizeof img, "%s/list", dir);
		FILE *f = fopen(img, "r");
		if (f) {
			if (!fgets(name, sizeof name, f))
				name[0] = '\0';
			fclose(f);
		}
		name[strcspn(name, "\n")] = '\0';
		unlink(img);
	}
	ok(name[0] && chmod(name, 0644) == 0, "cache: image made readable by others");
	ok(reuse_policy_load_cached(path, &mapped, &d, dir) == 0 && !mapped.image,
	   "cache: an image group or others may read or write is not mapped");
	reuse_policy_free(&mapped);
	ok(reuse_policy_load_cached(path, &mapped, &d, dir) == 0 && mapped.image,
	   "cache: ... it is written again, private");
	reuse_policy_free(&mapped);

	/* nor one in a directory others may enter */
	chmod(dir, 0755);
	ok(reuse_policy_load_cached(path, &mapped, &d, dir) == 0 && !mapped.image,
	   "cache: not from a directory group or others may enter");
	reuse_policy_free(&mapped);
	chmod(dir, 0700);

	/* a changed file is parsed again (policies this size get images) */
	size_t clen;
	char *changed = gen(200, &clen);
	ok(clen >= 1024 && write_text(path, changed, clen), "cache: policy changed");
	ok(reuse_policy_load_cached(path, &mapped, &d, dir) == 0 && !mapped.image &&
	   mapped.nrules == 200, "cache: a changed file is parsed, not mapped");
	reuse_policy_free(&mapped);
	ok(reuse_policy_load_cached(path, &mapped, &d, dir) == 0 && mapped.image &&
	   mapped.nrules == 200, "cache: ... and mapped the next time");
	reuse_policy_free(&mapped);

	/* a broken policy: the same diagnostics, no image */
	char *broken = realloc(changed, clen + 16);
	struct reuse_diag d1 = { 0 }, d2 = { 0 };
	if (broken)
		memcpy(broken + clen, "tcp *:x deny\n", 14);
	ok(broken && write_text(path, broken, clen + 13), "cache: policy broken");
	unsigned before = images(dir);
	int n1 = reuse_policy_load(path, &mapped, &d1);
	reuse_policy_free(&mapped);
	int n2 = reuse_policy_load_cached(path, &mapped, &d2, dir);
	ok(n1 == 1 && n2 == 1 && d1.text && d2.text && !strcmp(d1.text, d2.text) &&
	   !mapped.image && images(dir) == before,
	   "cache: a broken policy has the same diagnostics and no image");
	reuse_policy_free(&mapped);
	reuse_diag_free(&d1);
	reuse_diag_free(&d2);
	free(broken ? broken : changed);

	reuse_policy_free(&first);
	reuse_policy_free(&parsed);
	reuse_diag_free(&d);
	free(text);
	snprintf(img, sizeof img, "rm -rf %s", dir);
	if (system(img) != 0)
		diag("cannot remove %s", dir);
}
