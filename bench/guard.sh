#!/usr/bin/env bash
# The price of `reuse guard` per bind(): time per bind in a guarded cgroup
# next to a bare one, a preloaded one and one under --seccomp, and for a
# process outside the guarded cgroup, in one run (same machine state), as a
# markdown table in build/bench/guard.md (bench/run puts it in RESULTS.md).
# Root, cgroup v2. Usage: bench/guard.sh [N] (default 20000 binds a row).
set -eu
cd "$(dirname "$0")/.."
n=${1:-20000}
b=build/bench/bindbench
out=build/bench/guard.md
[ -x "$b" ] && [ -x build/reuse ] && [ -f build/libreuse.so ] || { echo "run: make bench-guard" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench/guard.sh: needs root (reuse guard)" >&2; exit 2; }
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cgroot" ] || { echo "bench/guard.sh: no cgroup v2 mount" >&2; exit 2; }
tmp=$(mktemp -d)
cg=$cgroot/libreuse-bench-$$
other=$cgroot/libreuse-bench-other-$$
guard=
cleanup() {
  if [ -n "$guard" ]; then kill "$guard" 2>/dev/null || true; wait "$guard" 2>/dev/null || true; fi
  rmdir "$cg" "$other" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$cg" "$other"

# matched: a rule decides every bind (nothing logged, to time the mechanism)
printf 'tcp 127.0.0.1:* reuseaddr=force log=off\n' >"$tmp/matched"
# unmatched: no rule matches; the call is still looked at
printf 'udp 127.0.0.1:1 deny\n' >"$tmp/unmatched"
# 100 rules: the bind is decided by the last one (the whole scan)
for i in $(seq 1 99); do printf 'udp 127.0.0.1:%d deny\n' "$i"; done >"$tmp/many"
printf 'tcp 127.0.0.1:* reuseaddr=force log=off\n' >>"$tmp/many"
# exclusive: post_bind remembers each socket as its port's owner, close forgets it
printf 'tcp 127.0.0.1:* exclusive log=off\n' >"$tmp/exclusive"
# the same, logged: every bind is a ring buffer event and a line
printf 'tcp 127.0.0.1:* reuseaddr=force\n' >"$tmp/logged"

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# incg CGROUP CMD... : CMD as a member of CGROUP
incg() { local c=$1; shift; sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$c" "$@"; }

guard_on() {  # guard_on POLICY : reuse guard on $cg, returns once ready
  local i
  : >"$tmp/glog"
  build/reuse guard --cgroup "$cg" --policy "$1" --log "$tmp/glog" 2>"$tmp/gerr" &
  guard=$!
  for i in $(seq 1 200); do
    grep -q 'guard ready' "$tmp/glog" && return 0
    sleep 0.05
  done
  cat "$tmp/gerr" >&2
  exit 1
}

guard_off() {
  kill "$guard"; wait "$guard" || true; guard=
}

row() {  # row LABEL CMD...
  local label=$1 o
  shift
  o=$("$@" "$b" -n "$n")
  printf '| %s | %s | %s | %s |\n' "$label" "$(field "$o" bind_p50)" \
    "$(field "$o" bind_p10)" "$(field "$o" bind_p90)"
}

{
  echo "bind() to 127.0.0.1:0, $n calls a row, each timed alone (ns); $(nproc) CPUs, $(uname -r); bench/guard.sh"
  echo
  echo "| how | bind p50 | bind p10 | bind p90 |"
  echo "|---|---:|---:|---:|"
  row "bare" incg "$cg"
  row "LD_PRELOAD, rule matched" env LD_PRELOAD=build/libreuse.so REUSE_POLICY="$tmp/matched" REUSE_LOG=off
  row "--seccomp, rule matched" build/reuse run --seccomp --policy "$tmp/matched" --log off --
  guard_on "$tmp/matched"
  row "guard, rule matched (reuseaddr=force)" incg "$cg"
  row "outside the guarded cgroup, guard attached" incg "$other"
  guard_off
  guard_on "$tmp/unmatched"
  row "guard, no rule matches" incg "$cg"
  guard_off
  guard_on "$tmp/many"
  row "guard, 100 rules, the last matches" incg "$cg"
  guard_off
  guard_on "$tmp/exclusive"
  row "guard, exclusive rule (post_bind, sock_release too)" incg "$cg"
  guard_off
  guard_on "$tmp/logged"
  row "guard, rule matched and logged (text line)" incg "$cg"
  guard_off
  row "bare (again)" incg "$cg"
} >"$out"
cat "$out"
