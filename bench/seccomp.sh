#!/usr/bin/env bash
# The price of `reuse run --seccomp`: time per intercepted bind() next to a
# bare one and a preloaded one, in one run (same machine state), as a
# markdown table. Usage: bench/seccomp.sh [N] (default 20000 binds a row).
set -eu
cd "$(dirname "$0")/.."
n=${1:-20000}
b=build/bench/bindbench
[ -x "$b" ] && [ -x build/bench/notifyfloor ] && [ -x build/reuse ] || { echo "run: make bench-seccomp" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# matched: a rule decides every bind (nothing logged, to time the mechanism)
printf 'tcp 127.0.0.1:* reuseaddr=force log=off\n' >"$tmp/matched"
# unmatched: no rule matches; the call is still intercepted and looked up
printf 'udp 127.0.0.1:1 deny\n' >"$tmp/unmatched"
# exclusive: close() is stopped too (core/engine_drain.c); with -l a listener
# is held, so that each close is looked up
printf 'tcp 127.0.0.1:* exclusive log=off\n' >"$tmp/exclusive"

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

row() {  # row LABEL [-l] CMD...
  local label=$1 out hold=()
  shift
  if [ "$1" = -l ]; then hold=(-l); shift; fi
  out=$("$@" "$b" -n "$n" "${hold[@]}")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$(field "$out" bind_p50)" \
    "$(field "$out" bind_p10)" "$(field "$out" bind_p90)" "$(field "$out" nodelay_p50)" \
    "$(field "$out" close_p50)"
}

echo "bind() to 127.0.0.1:0, $n calls a row, each timed alone (ns); $(nproc) CPUs, $(uname -r)"
echo
echo "| how | bind p50 | bind p10 | bind p90 | setsockopt(TCP_NODELAY) p50 (not intercepted) | close p50 |"
echo "|---|---:|---:|---:|---:|---:|"
row "bare" env
row "LD_PRELOAD, rule matched" build/reuse run --policy "$tmp/matched" --
row "LD_PRELOAD, no rule" build/reuse run --policy "$tmp/unmatched" --
row "seccomp notify, no-op supervisor (the floor)" build/bench/notifyfloor
row "--seccomp, rule matched" build/reuse run --seccomp --policy "$tmp/matched" --
row "--seccomp, no rule" build/reuse run --seccomp --policy "$tmp/unmatched" --
row "--seccomp, exclusive (close stopped)" build/reuse run --seccomp --policy "$tmp/exclusive" --
row "--seccomp, exclusive, a listener held" -l build/reuse run --seccomp --policy "$tmp/exclusive" --
row "bare (again)" env
