#!/bin/bash
# stopsig.bash NAME SIGNAL [CONC] - one measured `reuse run --supervise`
# takeover of a recipe (tests/daemons/recipes.bash, foreground) under a
# `handoff` rule, with the old instance stopped by SIGNAL, under continuous
# client load (tests/daemons/load.py, CONC connections at a time). Prints
# load.py's line: attempted=A ok=O failed=F errors=...
# Loopback, a port from the test range; bounded (about 10 s).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REUSE=$ROOT/build/reuse
name=$1 sig=$2 conc=${3:-8}
T=$(mktemp -d "${TMPDIR:-/tmp}/libreuse-stopsig.XXXXXX")
chmod 755 "$T"
mkdir -m 1777 "$T/ho"
export T REUSE_HANDOFF_DIR=$T/ho
sup=
cleanup() {
  local rc=$?
  if [[ -n $sup ]]; then kill -TERM "$sup" 2>/dev/null || true; wait "$sup" 2>/dev/null || true; fi
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT INT TERM
# shellcheck source=tests/daemons/recipes.bash
source "$HERE/recipes.bash"
P=$(shuf -i 20000-29999 -n 1)
while ss -Htuln "sport = :$P" | grep -q .; do P=$(shuf -i 20000-29999 -n 1); done
recipe "$name" fg "$P"
printf 'tcp 127.0.0.1:%s handoff\n' "$P" >"$T/policy"
"$REUSE" run --supervise --stop-signal "$sig" --takeover-timeout 10 --policy "$T/policy" \
  --log "$T/log" -- "${CMD[@]}" >"$T/sup.out" 2>"$T/sup.err" &
sup=$!
for ((i = 0; i < 100; i++)); do answers "$KIND" "$P" 2>/dev/null && break; sleep 0.05; done
answers "$KIND" "$P" || { echo "$name does not answer: $(cat "$T/sup.err")" >&2; exit 1; }
"$HERE/load.py" "$KIND" 127.0.0.1 "$P" "$T/stop" "$conc" 20 >"$T/load" &
load=$!
sleep 1
kill -HUP "$sup"
for ((i = 0; i < 200; i++)); do grep -q "took over" "$T/sup.err" && break; sleep 0.05; done
grep -q "took over" "$T/sup.err" || { echo "no takeover: $(cat "$T/sup.err")" >&2; exit 1; }
sleep 2
touch "$T/stop"
wait "$load"
cat "$T/load"
