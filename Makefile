# libreuse - build, test and demo entry points.
#   make            build/libreuse.so, build/reuse, the unit tests, probes, bench tools
#   make demo       set up a Debian machine (as root), build, show the restart story
#   make check      set up, build (also the sanitized builds and fuzzers), run the
#                   whole test suite (what .ci/run calls)
#   make check-quick  the unit tests and one story per feature, for iteration
#   make check-cpython  CPython's socket suites under every policy and both
#                   hosts, case for case against bare (tests/tools/cpython-suites)
#   make clean      remove every build directory
# Each object's header dependencies are tracked (-MMD -MP: build/obj/**/*.d).
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes
DEPFLAGS := -MMD -MP
CPPFLAGS_ALL := -Iinclude -Isrc -D_GNU_SOURCE $(CPPFLAGS)
CFLAGS_ALL   := -std=gnu11 -fPIC -fvisibility=hidden -fno-strict-aliasing $(WARN) $(CFLAGS)
LDFLAGS_LIB  := -shared -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--no-undefined
LIBS_LIB     := -ldl -lpthread
# reuse run --seccomp (src/cli/seccomp.c, supervise.c) needs libseccomp;
# reuse guard (src/guard/) libbpf. Only the CLI links them, never the library.
LIBS_CLI     := -lseccomp -lbpf
BPF_CLANG    ?= clang
BPFTOOL      ?= bpftool

B := build
CORE_SRC  := $(wildcard src/core/*.c)
SHIM_SRC  := $(wildcard src/shim/*.c)
# linked into libreuse.so alone: libc's names defined hidden (ownlibc.c)
SOLIB_SRC := $(wildcard src/solib/*.c)
CLI_SRC   := $(wildcard src/cli/*.c)
GUARD_SRC := $(filter-out %.bpf.c,$(wildcard src/guard/*.c))
UNIT_SRC  := $(wildcard tests/unit/*.c)
PROBE_SRC := $(wildcard tests/probes/*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o) $(B)/obj/src/core/default_policy.o
SHIM_OBJ := $(SHIM_SRC:%.c=$(B)/obj/%.o) $(SOLIB_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/obj/%.o) $(GUARD_SRC:%.c=$(B)/obj/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/obj/%.o)
PROBES   := $(PROBE_SRC:tests/probes/%.c=$(B)/probes/%)
BENCH_BIN := $(B)/bench/probe $(B)/bench/recsize $(B)/bench/shapes

all: $(B)/libreuse.so $(B)/reuse $(B)/unit $(PROBES) $(BENCH_BIN)

programs: $(B)/libreuse.so $(B)/reuse

$(B)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(DEPFLAGS) -c -o $@ $<

# The embedded default policy: the file's bytes plus a NUL, no generator needed.
$(B)/obj/src/core/default_policy.o: src/core/default_policy.S policy/default.policy
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(B)/libreuse.so: $(SHIM_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_LIB) $(LDFLAGS) -o $@ $^ $(LIBS_LIB)

# The CLI and the unit tests take only the core objects they need.
$(B)/libcore.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

# reuse guard's programs: built for the BPF target, embedded in `reuse` as a
# libbpf skeleton (the object's bytes and the code that opens them).
$(B)/guard/guard.bpf.o: src/guard/guard.bpf.c src/guard/guard_abi.h Makefile
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -O2 -g -target bpf -Wall -Werror -I/usr/include/$(MULTIARCH) -Isrc \
		-c -o $@ $<

$(B)/guard/guard.skel.h: $(B)/guard/guard.bpf.o
	$(BPFTOOL) gen skeleton $< name guard_bpf >$@.tmp && mv $@.tmp $@

$(B)/obj/src/guard/%.o: CPPFLAGS_ALL += -I$(B)/guard
$(B)/obj/src/guard/load.o: $(B)/guard/guard.skel.h

$(B)/reuse: $(CLI_OBJ) $(B)/libcore.a
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $^ $(LIBS_CLI) $(LIBS_LIB)

# the guard's policy compiler is pure (no libbpf): the unit tests take it
$(B)/unit: $(UNIT_OBJ) $(B)/obj/src/guard/compile.o $(B)/libcore.a
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $^ $(LIBS_LIB)

$(B)/probes/%: tests/probes/%.c
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CPPFLAGS) -std=gnu11 $(WARN) -O1 -g $(DEPFLAGS) -o $@ $< -lpthread

# reuse run finds the installed library: this path, compiled in, after
# "beside the binary" (build tree) and "../<libdir> from the binary" (relocated).
PREFIX     ?= /usr/local
ifndef MULTIARCH
MULTIARCH  := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch)
endif
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib/$(MULTIARCH)
PKGLIBDIR  ?= $(LIBDIR)/libreuse
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

PATHS_DEF := -DREUSE_LIBDIR='"$(PKGLIBDIR)"' \
	     -DREUSE_LIBDIR_REL='"$(patsubst $(PREFIX)/%,%,$(PKGLIBDIR))"'
$(B)/obj/src/cli/run.o: CPPFLAGS_ALL += $(PATHS_DEF)
$(B)/obj/src/cli/run.o: $(B)/paths.stamp
$(B)/paths.stamp: FORCE
	@mkdir -p $(B)
	@echo '$(PATHS_DEF)' | cmp -s - $@ || echo '$(PATHS_DEF)' >$@

# ---- set up, demo, the suite, cleaning ---------------------------------------
# setup installs what the build needs, so it runs before anything is built.
setup:
	scripts/setup

demo: setup
	$(MAKE) --no-print-directory all
	scripts/demo

check: setup
	$(MAKE) --no-print-directory all asan tsan smallfd fuzz-build
	scripts/run-tests

# For iteration: the unit tests and one story per feature (tests tagged
# `# bats test_tags=quick`). CI runs the whole suite.
check-quick: setup
	$(MAKE) --no-print-directory all asan tsan smallfd fuzz-build
	scripts/run-tests --quick

# CPython's own socket suites, bare and under each shipped policy through the
# library and --seccomp (about 10 minutes); tests/cpython.bats runs a subset.
check-cpython: setup
	$(MAKE) --no-print-directory all
	tests/tools/cpython-suites

clean:
	rm -rf $(B) build-asan build-tsan build-smallfd build-fuzz

# ---- install and packaging -----------------------------------------------------
#   make install [PREFIX=/usr/local] [DESTDIR=...]   the library, CLI, manuals,
#   an example policy (never /etc/libreuse/policy itself), bash completion.
#   make deb [DEBFULLNAME=... DEBEMAIL=...]   a Debian package from this tree
#   (dpkg-buildpackage -b) in build/deb/, maintained by that name if given.
install: programs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(SYSCONFDIR)/libreuse $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(B)/reuse $(DESTDIR)$(BINDIR)/reuse
	install -m 0644 $(B)/libreuse.so $(DESTDIR)$(PKGLIBDIR)/libreuse.so
	install -m 0644 man/reuse.1 $(DESTDIR)$(MANDIR)/man1/reuse.1
	install -m 0644 man/reuse.policy.5 $(DESTDIR)$(MANDIR)/man5/reuse.policy.5
	install -m 0644 man/libreuse.7 $(DESTDIR)$(MANDIR)/man7/libreuse.7
	install -m 0644 policy/example.policy $(DESTDIR)$(SYSCONFDIR)/libreuse/policy.example
	install -m 0644 completion/reuse.bash $(DESTDIR)$(BASHCOMPDIR)/reuse

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/reuse $(DESTDIR)$(PKGLIBDIR)/libreuse.so \
		$(DESTDIR)$(MANDIR)/man1/reuse.1 $(DESTDIR)$(MANDIR)/man5/reuse.policy.5 \
		$(DESTDIR)$(MANDIR)/man7/libreuse.7 \
		$(DESTDIR)$(SYSCONFDIR)/libreuse/policy.example $(DESTDIR)$(BASHCOMPDIR)/reuse
	-rmdir $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(SYSCONFDIR)/libreuse 2>/dev/null

# dpkg-buildpackage writes into the parent of the tree it builds: build a
# copy under build/deb/ so the work tree and its build/ stay untouched.
DEB_MAINT = $(DEBFULLNAME) <$(DEBEMAIL)>
deb:
	rm -rf $(B)/deb && mkdir -p $(B)/deb/libreuse
	tar --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | \
		tar -C $(B)/deb/libreuse -xf -
	if [ -n "$(DEBEMAIL)" ] && [ -n "$(DEBFULLNAME)" ]; then \
		cd $(B)/deb/libreuse/debian && \
		sed -i 's/^Maintainer: .*/Maintainer: $(DEB_MAINT)/' control && \
		sed -i 's/^ -- [^>]*>/ -- $(DEB_MAINT)/' changelog; fi
	cd $(B)/deb/libreuse && dpkg-buildpackage -b -us -uc
	ls $(B)/deb/*.deb

# ---- bench/: what the shim costs, bare vs shimmed ---------------------------
#   make bench          full run, writes bench/RESULTS.md (a few minutes)
#   make bench-smoke    tiny run into build/bench/RESULTS-smoke.md (harness check)
#   make bench-seccomp  reuse run --seccomp: overhead per intercepted call (bench/seccomp.md)
#   make bench-guard    reuse guard: time per bind beside bare, LD_PRELOAD and --seccomp
#                       (build/bench/guard.md; bench/run puts it in RESULTS.md)
$(B)/bench/probe: bench/probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O1 -g $(DEPFLAGS) -o $@ $<

# policy shapes: reuse_policy_parse / reuse_policy_match under callgrind
$(B)/bench/shapes: bench/shapes.c $(B)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) -std=gnu11 $(WARN) -O2 -g $(DEPFLAGS) -o $@ $< $(B)/libcore.a $(LIBS_LIB)

$(B)/bench/recsize: bench/recsize.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) -std=gnu11 $(WARN) $(DEPFLAGS) -o $@ $<

$(B)/bench/bindbench: bench/bindbench.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 $(DEPFLAGS) -o $@ $<

$(B)/bench/notifyfloor: bench/notifyfloor.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 $(DEPFLAGS) -o $@ $< -lseccomp

bench: setup
	$(MAKE) --no-print-directory all $(B)/bench/bindbench
	bench/restart
	bench/guard.sh
	bench/run

bench-smoke: all
	bench/run --smoke --out $(B)/bench/RESULTS-smoke.md

bench-seccomp: $(B)/reuse $(B)/libreuse.so $(B)/bench/bindbench $(B)/bench/notifyfloor
	bench/seccomp.sh

bench-guard: $(B)/reuse $(B)/libreuse.so $(B)/bench/bindbench
	bench/guard.sh

# ---- robustness: sanitizer builds, fuzzing ------------------------------------
#   make asan     build-asan/: libreuse.so, reuse, unit with ASan+UBSan
#   make tsan     build-tsan/: libreuse.so and unit with ThreadSanitizer
#   make smallfd  build-smallfd/: libreuse.so and unit with a small fd table
#   make fuzz FUZZ_SECONDS=N   run each libFuzzer target N seconds (default 300)
#   make fuzz-smoke            what `make check` runs: replay + a short run each
# A sanitized library needs its runtime first in the initial library list:
#   LD_PRELOAD="$(gcc -print-file-name=libasan.so):build-asan/libreuse.so"
# (scripts/sanitize sets that up, with the options the suite uses).
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
TSAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
FUZZ_CC     ?= clang
FUZZ_FLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iinclude -Isrc -Isrc/core -D_GNU_SOURCE
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20
FUZZERS := build-fuzz/fuzz_policy build-fuzz/fuzz_match

asan:
	$(MAKE) --no-print-directory B=build-asan CFLAGS="$(ASAN_CFLAGS)" \
		build-asan/libreuse.so build-asan/reuse build-asan/unit

tsan:
	$(MAKE) --no-print-directory B=build-tsan CFLAGS="$(TSAN_CFLAGS)" \
		build-tsan/libreuse.so build-tsan/unit

# build-smallfd/: the fd table's first level holds fds 0-255 and the deeper
# one the rest up to 65535 (2^20 and up in the real build); close()'s watch
# map covers 128 fds. The suite's fds then reach every path of the table,
# and so do build-smallfd/unit's (tests/unit/test_fdtable.c).
SMALLFD_CPPFLAGS := -DREUSE_FD_CHUNK_BITS=6 -DREUSE_FD_DIR_BITS=2 -DREUSE_FD_LIMIT=0x10000u \
	-DREUSE_WATCH_FDS=128u
smallfd:
	$(MAKE) --no-print-directory B=build-smallfd CPPFLAGS="$(SMALLFD_CPPFLAGS)" \
		build-smallfd/libreuse.so build-smallfd/unit

# The policy rooms (src/core/policy_*.c) and the embedded default policy
# are all a fuzzer links: they stand alone. -MMD tracks their headers.
POLICY_SRC := $(wildcard src/core/policy_*.c)
build-fuzz/%: tests/fuzz/%.c $(POLICY_SRC) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(DEPFLAGS) -o $@ $< $(POLICY_SRC)

fuzz-build: $(FUZZERS)

fuzz: $(FUZZERS)
	scripts/fuzz $(FUZZ_SECONDS)

fuzz-smoke: $(FUZZERS)
	scripts/fuzz $(FUZZ_SMOKE_SECONDS)

FORCE:
.PHONY: all programs setup demo check check-quick check-cpython clean install uninstall deb FORCE \
	bench bench-smoke bench-seccomp bench-guard asan tsan smallfd fuzz fuzz-build fuzz-smoke

# The header dependencies -MMD wrote (none before the first build).
-include $(wildcard $(B)/obj/*/*/*.d $(B)/probes/*.d $(B)/bench/*.d build-fuzz/*.d)
