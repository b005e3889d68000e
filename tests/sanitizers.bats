#!/usr/bin/env bats
# The library under the sanitizers and valgrind, and the fuzzers' short run.
#
# ASan+UBSan (build-asan/, `make asan`): the unit tests with leak checking,
# then every test file whose subject is the library in a host program:
# directives.bats, errno.bats, hostile.bats, stress.bats. Left out:
# cli.bats (the CLI's own arguments; it preloads the library beside
# build/reuse) and interposer.bats (it inspects the ELF of the plain build).
# TSan (build-tsan/, `make tsan`): the threaded unit suites, and stress.bats
# (scripts/sanitize preloads the runtime first and fails on any report from
# any process).
# valgrind memcheck: the probes under the plain build.
# Fuzzing: scripts/fuzz replays every past crash, then fuzzes each target
# FUZZ_SMOKE_SECONDS (default 20); `make fuzz` is the long run.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets ROOT/LIB/PROBES; bats sets $output

load helpers

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD REUSE_TEST_LIB
  cd "$ROOT" || return 1
}

# sanitized KIND FILE : FILE's tests against build-KIND, all passing, no report.
sanitized() {
  [ -e "build-$1/libreuse.so" ] || make -s "$1"
  nested_suite "$2 under $1, no report" timeout 1800 scripts/sanitize "$1" bats --tap "tests/$2"
}

@test "ASan+UBSan: the unit tests, with leak checking" {
  [ -e build-asan/unit ] || make -s asan
  run env ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    timeout 900 build-asan/unit
  echo "$output" | grep -vE '^ok ' | tail -40
  [ "$status" -eq 0 ]
  [ "$(grep -v '# TODO' <<<"$output" | grep -c '^not ok')" -eq 0 ]
}

# The suites whose code other threads share (the fd table's threaded
# stress, the engine, the log); test_policy alone would take most of a
# minute under TSan and has no threads.
@test "TSan: the unit tests of the fd table, engine, log and explanation, no report" {
  [ -e build-tsan/unit ] || make -s tsan
  run env TSAN_OPTIONS="halt_on_error=1:exitcode=66:suppressions=$ROOT/tests/tsan.supp" \
    timeout 300 build-tsan/unit fdtable engine log explain
  echo "$output" | grep -vE '^ok ' | tail -40
  [ "$status" -eq 0 ]
  [[ $output != *'WARNING: ThreadSanitizer'* ]]
  grep -q '^ok .* threads: ' <<<"$output"
  [ "$(grep -v '# TODO' <<<"$output" | grep -c '^not ok')" -eq 0 ]
}

@test "ASan+UBSan: directives.bats against build-asan/libreuse.so" {
  sanitized asan directives.bats
}

@test "ASan+UBSan: errno.bats against build-asan/libreuse.so" {
  sanitized asan errno.bats
}

@test "ASan+UBSan: hostile.bats against build-asan/libreuse.so" {
  sanitized asan hostile.bats
}

@test "ASan+UBSan: stress.bats against build-asan/libreuse.so" {
  sanitized asan stress.bats
}

@test "TSan: stress.bats against build-tsan/libreuse.so" {
  sanitized tsan stress.bats
}

# memcheck ARGS... : one probe under the plain library and valgrind; no error,
# no definite or indirect leak.
memcheck() {
  run timeout 300 env REUSE_POLICY="$POL" REUSE_LOG="$BATS_TEST_TMPDIR/log" REUSE_LOG_LEVEL=all \
    LD_PRELOAD="$LIB" valgrind -q --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --child-silent-after-fork=yes "$@"
  [ "$status" -eq 0 ] || { echo "$* -> $status"; echo "$output" | head -60; false; }
}

@test "valgrind memcheck: the probes under the shim, no error and no leak" {
  command -v valgrind >/dev/null || skip "valgrind not installed"
  POL=$(policy_file 'udp *:* reuseaddr=strip reuseport=force' 'tcp *:* reuseaddr=force')
  port=$(free_port)
  memcheck "$PROBES/bindprobe" -r -l 127.0.0.1 "$port"
  memcheck "$PROBES/bindprobe" -u -p ::1 0
  memcheck "$PROBES/bindprobe" -R -x -l ::1 0
  memcheck "$PROBES/bindprobe" -n -l 127.0.0.1 0
  memcheck "$PROBES/fdlife" dup dup2 1 "$(free_port)"
  memcheck "$PROBES/fdlife" dupset fcntl "$(free_port)"
  memcheck "$PROBES/fdlife" reuse raw libc "$(free_port)"
  memcheck "$PROBES/fdlife" fork "$(free_port)"
  memcheck "$PROBES/fdlife" threads 4 50
  memcheck "$PROBES/rebindprobe" -r 127.0.0.1
  memcheck "$PROBES/closeall"
  memcheck "$PROBES/dup2log" "$BATS_TEST_TMPDIR/own"
  memcheck "$PROBES/highfd" "$(free_port)"
  memcheck "$PROBES/stress" 2 2
  [ "$(grep -c ' bind fd=' "$BATS_TEST_TMPDIR/log")" -gt 100 ]
}

@test "valgrind memcheck: errnoprobe's deliberate bad pointers give the same errors with the shim as without" {
  command -v valgrind >/dev/null || skip "valgrind not installed"
  POL=$(policy_file 'any *:* reuseaddr=force reuseport=strip')
  a=$(free_port); b=$(free_port)
  summary() { grep -oE 'ERROR SUMMARY: [0-9]+ errors' <<<"$1"; }
  run timeout 300 valgrind "$PROBES/errnoprobe" "$a" "$b"
  bare=$(summary "$output")
  run timeout 300 env REUSE_POLICY="$POL" REUSE_LOG="$BATS_TEST_TMPDIR/log" LD_PRELOAD="$LIB" \
    valgrind "$PROBES/errnoprobe" "$a" "$b"
  shim=$(summary "$output")
  echo "# bare: $bare; shim: $shim"
  [ -n "$bare" ]
  [ "$shim" = "$bare" ]
}

@test "fuzz: every past crash replays clean; a short run of each target finds nothing" {
  [ -x build-fuzz/fuzz_policy ] && [ -x build-fuzz/fuzz_match ] || make -s fuzz-build
  run timeout 600 scripts/fuzz "${FUZZ_SMOKE_SECONDS:-20}"
  echo "$output" | sed 's/^/# /' >&3
  [ "$status" -eq 0 ]
  [ "$(grep -c 'crashes 0$' <<<"$output")" -eq 2 ]
}
