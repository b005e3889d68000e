#!/usr/bin/env bats
# bench/run --smoke: the harness runs end to end and writes its whole table.
# No figure is asserted (timings belong in make bench, not in the suite);
# only that every row is there and carries a number.

load helpers

setup_file() {
  export SMOKE_OUT="$BATS_FILE_TMPDIR/RESULTS-smoke.md"
  "$ROOT/bench/run" --smoke --out "$SMOKE_OUT" >"$BATS_FILE_TMPDIR/run.log" 2>&1 || {
    cat "$BATS_FILE_TMPDIR/run.log" >&3; return 1; }
}

# cell 'TEXT' COLUMN: the COLUMN-th cell of the table row starting with TEXT
cell() {
  grep -F "| $1" "$SMOKE_OUT" | head -1 | awk -F'|' -v c="$2" '{ gsub(/ /, "", $(c + 1)); print $(c + 1) }'
}

@test "bench smoke: the results file has every section" {
  for h in '## Machine' '## Instruction counts' '## One bind decision' '## Memory' \
           '## Throughput' '## Restart figures' '## Exact commands'; do
    grep -qF "$h" "$SMOKE_OUT" || { echo "missing: $h"; false; }
  done
}

@test "bench smoke: every instruction-count row has bare, shimmed and extra figures" {
  for r in 'socket life-cycle, 1 matching rule, log=off' 'socket life-cycle, JSON log' \
           'socket life-cycle, text log' 'close() of an untracked fd'; do
    for c in 3 4 5; do
      [[ "$(cell "$r" "$c")" =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || { echo "$r col $c: $(cell "$r" "$c")"; false; }
    done
  done
  grep -F '| socket life-cycle, syslog' "$SMOKE_OUT"
  [[ "$(cell 'start-up: constructor' 5)" =~ ^[0-9]+$ ]]
  [ "$(cell 'start-up: constructor' 5)" -gt 0 ]
}

@test "bench smoke: decision, memory and throughput rows are filled" {
  for r in '1 rule' '200 rules, distinct ports' '200 rules, distinct hosts'; do
    [[ "$(cell "$r" 2)" =~ ^[0-9]+$ ]] || { echo "$r: $(cell "$r" 2)"; false; }
  done
  [[ "$(cell 'VmRSS holding' 2)" =~ ^[0-9]+$ ]]
  [[ "$(cell 'VmRSS holding' 3)" =~ ^[0-9]+$ ]]
  [[ "$(cell 'bytes per tracked socket, record size' 3)" =~ ^[0-9]+$ ]]
  for r in 'new connection per request' 'keep-alive'; do
    [[ "$(cell "$r" 2)" =~ ^[0-9.]+$ ]] && [[ "$(cell "$r" 3)" =~ ^[0-9.]+$ ]] &&
      [[ "$(cell "$r" 5)" =~ ^[0-9]+\.[0-9]+$ ]] ||
      { echo "$r: $(cell "$r" 2) / $(cell "$r" 3), pair ratio $(cell "$r" 5)"; false; }
  done
}
