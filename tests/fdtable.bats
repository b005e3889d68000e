#!/usr/bin/env bats
# The fd table's deeper level, which the real build uses for fds of 2^20 and
# up (nr_open raised): a container's RLIMIT_NOFILE never reaches those, so
# `make smallfd` builds the library with a first level of 256 fds and a
# watch map of 128 (build-smallfd/), and these tests run real programs and
# the stress, directives, errno and hostile files against it, and the fd
# table's unit tests (build-smallfd/unit).
# shellcheck disable=SC2153,SC2154  # helpers.bash sets ROOT/LIB/PROBES; bats sets $output

load helpers

SMALL="$ROOT/build-smallfd/libreuse.so"

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD REUSE_TEST_LIB
  cd "$ROOT" || return 1
  [ -e "$SMALL" ] || make -s smallfd
  LOGF="$BATS_TEST_TMPDIR/log"
}

# against FILE : FILE's tests against build-smallfd, all passing.
against() {
  nested_suite "$1 against build-smallfd" timeout 900 env REUSE_TEST_LIB="$SMALL" bats --tap "tests/$1"
}

@test "deep level: the fd table's unit tests (tests/unit/test_fdtable.c) in build-smallfd/unit" {
  [ -e build-smallfd/unit ] || make -s smallfd
  run timeout 120 build-smallfd/unit fdtable
  echo "$output" | grep -vE '^ok ' | tail -40
  [ "$status" -eq 0 ]
  # fds 256 and up are in the deeper level there
  grep -q '^ok .* fd 4096: sock_dup to 4097 copies the whole record' <<<"$output"
  [ "$(grep -c '^not ok' <<<"$output")" -eq 0 ]
}

@test "deep level: exclusive sockets at fds 300+ lend to each other; another uid is refused" {
  # The lending path reads the exclusive registry under the shim's lock and
  # looks each socket up: with fds in the deeper level that lookup must not
  # need the lock (it used to: a self-deadlock).
  port=$(free_port)
  pol=$(policy_file "any *:$port exclusive")
  out="$BATS_TEST_TMPDIR/own.out"
  timeout 20 env OWNBINDS_FD_BASE=300 REUSE_POLICY="$pol" REUSE_LOG="$LOGF" LD_PRELOAD="$SMALL" \
    "$ROOT/tests/daemons/ownbinds.py" 2 udp,0.0.0.0,"$port",ra udp,127.0.0.1,"$port",ra \
    udp,::,"$port",ra >"$out" 2>&1 &
  own=$!
  for ((i = 0; i < 200; i++)); do grep -q '^ready' "$out" && break; sleep 0.05; done
  run cat "$out"
  assert_line '0 bind=ok'
  assert_line '1 bind=ok'
  assert_line '2 bind=ok'
  run timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" rarp
  assert_line 'bind=EADDRINUSE'
  wait "$own"
  run cat "$LOGF"
  assert_line --regexp "bind fd=30[12] udp .*:$port .*action=exclusive result=ok .*lent SO_REUSEPORT .*\(keyed"
  refute_line --partial 'fd=3 '
}

@test "deep level: every test of stress.bats (threads, dup, fork, close in a signal handler)" {
  against stress.bats
}

@test "deep level: every test of directives.bats" {
  against directives.bats
}

@test "deep level: every test of errno.bats and hostile.bats" {
  against errno.bats
  against hostile.bats
}
