# libreuse - build, test and demo entry points.
#   make            build/libreuse.so and build/reuse
#   make demo       set up a Debian machine (as root), build, show the restart story
#   make check      set up, build, run the whole test suite (what .ci/run calls)
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes
CPPFLAGS_ALL := -Iinclude -Isrc -D_GNU_SOURCE $(CPPFLAGS)
CFLAGS_ALL   := -std=gnu11 -fPIC -fvisibility=hidden -fno-strict-aliasing $(WARN) $(CFLAGS)
LDFLAGS_LIB  := -shared -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--no-undefined
LIBS_LIB     := -ldl -lpthread

B := build
CORE_SRC  := $(wildcard src/core/*.c)
SHIM_SRC  := $(wildcard src/shim/*.c)
CLI_SRC   := $(wildcard src/cli/*.c)
UNIT_SRC  := $(wildcard tests/unit/*.c)
PROBE_SRC := $(wildcard tests/probes/*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o) $(B)/obj/src/core/default_policy.o
SHIM_OBJ := $(SHIM_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/obj/%.o)
PROBES   := $(PROBE_SRC:tests/probes/%.c=$(B)/probes/%)

all: $(B)/libreuse.so $(B)/reuse $(B)/unit $(PROBES)

$(B)/obj/%.o: %.c $(wildcard include/*.h src/*/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c -o $@ $<

# The embedded default policy: the file's bytes plus a NUL, no generator needed.
$(B)/obj/src/core/default_policy.o: src/core/default_policy.S policy/default.policy
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(B)/libreuse.so: $(SHIM_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_LIB) -o $@ $^ $(LIBS_LIB)

# The CLI and the unit tests take only the core objects they need.
$(B)/libcore.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

# reuse run --seccomp (src/cli/seccomp.c, supervise.c) needs libseccomp.
LIBS_CLI := -lseccomp

$(B)/reuse: $(CLI_OBJ) $(B)/libcore.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS_CLI) $(LIBS_LIB)

$(B)/unit: $(UNIT_SRC:%.c=$(B)/obj/%.o) $(B)/libcore.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS_LIB)

$(B)/probes/%: tests/probes/%.c
	@mkdir -p $(dir $@)
	$(CC) -Iinclude $(CPPFLAGS) -std=gnu11 $(WARN) -O1 -g -o $@ $< -lpthread

setup:
	scripts/setup

demo: setup all
	scripts/demo

check: setup all
	scripts/run-tests

clean:
	rm -rf $(B)

.PHONY: all setup demo check clean

# ---- reuse run --seccomp: overhead per intercepted call (bench/seccomp.md) ----
$(B)/bench/bindbench: bench/bindbench.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -o $@ $<

$(B)/bench/notifyfloor: bench/notifyfloor.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -o $@ $< -lseccomp

bench-seccomp: $(B)/reuse $(B)/libreuse.so $(B)/bench/bindbench $(B)/bench/notifyfloor
	bench/seccomp.sh

.PHONY: bench-seccomp
