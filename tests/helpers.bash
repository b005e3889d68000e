# Shared set-up for every tests/*.bats file.
# shellcheck shell=bash
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
# REUSE_TEST_LIB: another build (scripts/sanitize sets a sanitized one, with its runtime)
LIB="${REUSE_TEST_LIB:-$ROOT/build/libreuse.so}"
REUSE="$ROOT/build/reuse"
PROBES="$ROOT/build/probes"
export ROOT LIB REUSE PROBES

# The backend the behavioural suites run against, as env(1) arguments put
# before the program: the preloaded library (default), or `reuse run
# --seccomp` with REUSE_TEST_BACKEND=seccomp (tests/backends.bats), which
# reads the same REUSE_* variables.
# shellcheck disable=SC2034  # used by the files that load this one
if [[ ${REUSE_TEST_BACKEND:-library} == seccomp ]]; then
  BACKEND=("$REUSE" run --seccomp --)
else
  BACKEND=("LD_PRELOAD=$LIB")
fi

# untraced : stop bats' DEBUG trap from running inside functions (set +T).
# bats runs a stack-capturing function before every command of a test and
# its helpers; in a file that walks tables of cases that costs more than the
# programs under test. A failure is still reported at the test body's line
# (and the table-driven files list every mismatch themselves). Call it in
# setup().
untraced() { set +T; }

# A TCP/UDP port on 127.0.0.1 that nothing uses now, from a range away from
# the ephemeral one (32768-60999), so a test's TIME_WAIT never lands on it.
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + (RANDOM % 10000)))
    if ! ss -Htanu "sport = :$p" | grep -q .; then
      echo "$p"; return 0
    fi
  done
  return 1
}

# Wait (bounded) until something listens on TCP 127.0.0.1:$1 (or $2 tries of 0.05 s).
wait_listen() {
  local port=$1 tries=${2:-100} i
  for ((i = 0; i < tries; i++)); do
    ss -Htln "sport = :$port" | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

# Wait (bounded) until a UDP socket is bound on port $1.
wait_udp() {
  local port=$1 tries=${2:-100} i
  for ((i = 0; i < tries; i++)); do
    ss -Huan "sport = :$port" | grep -q . && return 0
    sleep 0.05
  done
  return 1
}

# A private policy file for this test: policy_file 'line' 'line' ...
policy_file() {
  local f="$BATS_TEST_TMPDIR/policy"
  printf '%s\n' "$@" >"$f"
  echo "$f"
}

# nested_suite LABEL CMD... : CMD runs a test file (it ends in `bats --tap
# FILE`, maybe under a wrapper); every test of it must pass. Shows the
# failures and says on fd 3 how many passed.
# shellcheck disable=SC2154  # bats' run sets $output and $status
nested_suite() {
  local label=$1
  shift
  run "$@"
  # everything but the passing lines: failures, notes, a sanitizer's report
  echo "$output" | grep -vE '^ok ' | head -200
  [ "$status" -eq 0 ]
  [ "$(grep -c '^ok ' <<<"$output")" -gt 0 ]
  [ "$(grep -c '^not ok ' <<<"$output")" -eq 0 ]
  echo "# $label: $(grep -c '^ok ' <<<"$output") passed" >&3
}

# build_goserver DIR : DIR/goserver, the static Go server of
# tests/daemons/goserver.go, built offline (standard library only, no
# module download, the local toolchain); DIR/gobuild.log says why not.
build_goserver() {
  local d=$1
  (cd "$d" && timeout 300 env GOTOOLCHAIN=local GOPROXY=off GOFLAGS= CGO_ENABLED=0 \
    GOCACHE="$d/gocache" GOPATH="$d/gopath" HOME="$d" \
    go build -o "$d/goserver" "$ROOT/tests/daemons/goserver.go") >"$d/gobuild.log" 2>&1 || true
  rm -rf "$d/gocache" "$d/gopath"
}

# CGROOT: where cgroup v2 is mounted (/sys/fs/cgroup/unified on a hybrid
# host, /sys/fs/cgroup on a unified one), as reuse guard finds it; empty
# without one.
# shellcheck disable=SC2034  # used by the files that load this one
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts 2>/dev/null)
