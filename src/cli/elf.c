/*
 * elf.c - what the dynamic loader will make of a program file.
 *
 * LD_PRELOAD is honoured by ld.so only, and ld.so runs only for programs
 * that name it in PT_INTERP. A static program (no PT_INTERP, no PT_DYNAMIC)
 * or a static-pie one (PT_DYNAMIC that relocates itself, DF_1_PIE) never
 * meets the shim. Both ELF classes and both byte orders are read; every
 * offset comes from the file and is bounds-checked by pread's answer.
 */
#include <byteswap.h>
#include <elf.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_DATA ELFDATA2LSB
#else
#define NATIVE_DATA ELFDATA2MSB
#endif

/* Bounds for headers taken from an untrusted file. */
#define MAX_PHNUM 65536u
#define MAX_DYN 4096u

struct reader {
	int fd;
	bool is64;
	bool swap;                   /* file byte order differs from ours */
};

/* One program header, whatever the class. */
struct segment {
	uint32_t type;
	uint64_t offset, filesz;
};

/* Exactly n bytes at off, or false (short file, bad offset, I/O error). */
static bool rd(const struct reader *r, uint64_t off, void *buf, size_t n)
{
	if (off > (uint64_t)INT64_MAX - n)
		return false;
	return pread(r->fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* Field readers that undo a foreign byte order. */
static uint16_t u16(const struct reader *r, uint16_t v)
{
	return r->swap ? bswap_16(v) : v;
}

static uint32_t u32(const struct reader *r, uint32_t v)
{
	return r->swap ? bswap_32(v) : v;
}

static uint64_t u64(const struct reader *r, uint64_t v)
{
	return r->swap ? bswap_64(v) : v;
}

/* The program header at off, normalised to one shape. */
static bool read_segment(const struct reader *r, uint64_t off,
			 struct segment *s)
{
	if (r->is64) {
		Elf64_Phdr ph;
		if (!rd(r, off, &ph, sizeof ph))
			return false;
		s->type = u32(r, ph.p_type);
		s->offset = u64(r, ph.p_offset);
		s->filesz = u64(r, ph.p_filesz);
	} else {
		Elf32_Phdr ph;
		if (!rd(r, off, &ph, sizeof ph))
			return false;
		s->type = u32(r, ph.p_type);
		s->offset = u32(r, ph.p_offset);
		s->filesz = u32(r, ph.p_filesz);
	}
	return true;
}

/*
 * With more than PN_XNUM-1 segments the real count lives in sh_info of
 * section header 0 (elf(5)); 0 if that cannot be read.
 */
static uint32_t extended_phnum(const struct reader *r, uint64_t shoff)
{
	if (r->is64) {
		Elf64_Shdr sh;
		return rd(r, shoff, &sh, sizeof sh) ? u32(r, sh.sh_info) : 0;
	} else {
		Elf32_Shdr sh;
		return rd(r, shoff, &sh, sizeof sh) ? u32(r, sh.sh_info) : 0;
	}
}

/*
 * A static-pie program carries PT_DYNAMIC only to relocate itself; the
 * linker marks it DF_1_PIE. ld.so itself has PT_DYNAMIC without that flag
 * (and does honour LD_PRELOAD for the program it is asked to run).
 */
static bool dynamic_says_pie(const struct reader *r, const struct segment *dyn)
{
	size_t entsz = r->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
	uint64_t n = dyn->filesz / entsz, i, tag, val;

	if (n > MAX_DYN)
		n = MAX_DYN;
	for (i = 0; i < n; i++) {
		if (r->is64) {
			Elf64_Dyn d;
			if (!rd(r, dyn->offset + i * entsz, &d, sizeof d))
				return false;
			tag = u64(r, (uint64_t)d.d_tag);
			val = u64(r, d.d_un.d_val);
		} else {
			Elf32_Dyn d;
			if (!rd(r, dyn->offset + i * entsz, &d, sizeof d))
				return false;
			tag = u32(r, (uint32_t)d.d_tag);
			val = u32(r, d.d_un.d_val);
		}
		if (tag == DT_NULL)
			return false;
		if (tag == DT_FLAGS_1)
			return (val & DF_1_PIE) != 0;
	}
	return false;
}

/*
 * Classify the file at fd. Anything that is not ELF (a #! script, a shell
 * text execvp() hands to /bin/sh) is ELF_NONE and looked at no further.
 */
void elf_inspect(int fd, struct elf_info *out)
{
	unsigned char id[EI_NIDENT];
	struct reader r = { .fd = fd };
	struct segment seg, dyn = { 0 };
	uint64_t phoff, shoff;
	uint32_t phnum, i;
	uint16_t phentsize;
	bool interp = false, dynamic = false;

	memset(out, 0, sizeof *out);
	out->kind = ELF_NONE;
	if (!rd(&r, 0, id, sizeof id) || memcmp(id, ELFMAG, SELFMAG) != 0)
		return;
	out->kind = ELF_BROKEN;
	if ((id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64) ||
	    (id[EI_DATA] != ELFDATA2LSB && id[EI_DATA] != ELFDATA2MSB))
		return;
	r.is64 = id[EI_CLASS] == ELFCLASS64;
	r.swap = id[EI_DATA] != NATIVE_DATA;
	out->bits = r.is64 ? 64 : 32;

	if (r.is64) {
		Elf64_Ehdr eh;
		if (!rd(&r, 0, &eh, sizeof eh))
			return;
		out->machine = u16(&r, eh.e_machine);
		phoff = u64(&r, eh.e_phoff);
		shoff = u64(&r, eh.e_shoff);
		phentsize = u16(&r, eh.e_phentsize);
		phnum = u16(&r, eh.e_phnum);
	} else {
		Elf32_Ehdr eh;
		if (!rd(&r, 0, &eh, sizeof eh))
			return;
		out->machine = u16(&r, eh.e_machine);
		phoff = u32(&r, eh.e_phoff);
		shoff = u32(&r, eh.e_shoff);
		phentsize = u16(&r, eh.e_phentsize);
		phnum = u16(&r, eh.e_phnum);
	}
	if (phnum == PN_XNUM)
		phnum = extended_phnum(&r, shoff);
	if (phnum == 0 || phnum > MAX_PHNUM ||
	    phentsize < (r.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
		return;

	for (i = 0; i < phnum; i++) {
		if (!read_segment(&r, phoff + (uint64_t)i * phentsize, &seg))
			return;
		if (seg.type == PT_INTERP)
			interp = true;
		else if (seg.type == PT_DYNAMIC && !dynamic) {
			dynamic = true;
			dyn = seg;
		}
	}
	if (interp)
		out->kind = ELF_DYNAMIC;
	else if (!dynamic)
		out->kind = ELF_STATIC;
	else if (dynamic_says_pie(&r, &dyn))
		out->kind = ELF_STATIC_PIE;
	else
		out->kind = ELF_NO_INTERP;
}

/* A reader's name for e_machine; NULL when we have none. */
const char *elf_machine_name(uint16_t machine)
{
	switch (machine) {
	case EM_X86_64:	return "x86-64";
	case EM_386:	return "i386";
	case EM_AARCH64: return "arm64";
	case EM_ARM:	return "arm";
	case EM_RISCV:	return "riscv";
	case EM_PPC64:	return "ppc64";
	case EM_S390:	return "s390";
	case EM_MIPS:	return "mips";
	default:	return NULL;
	}
}
