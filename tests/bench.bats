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
  for h in '## Machine' '## Instruction counts' '## System calls and wall time' \
           '## Policy shapes' '## One bind decision' '## Memory' \
           '## Throughput' '## Restart figures' '## Exact commands'; do
    grep -qF "$h" "$SMOKE_OUT" || { echo "missing: $h"; false; }
  done
}

@test "bench smoke: every instruction-count row has bare, shimmed and extra figures" {
  for r in 'socket life-cycle, `REUSE_LOG=off`' 'socket life-cycle, `REUSE_LOG_LEVEL=off`' \
           "socket life-cycle, the rule's" 'socket life-cycle, JSON line' \
           'socket life-cycle, text line' 'one outgoing TCP connection' \
           'close() of an untracked fd' 'closefrom() with two tracked fds' 'bind() failing EADDRINUSE'; do
    for c in 3 4 5; do
      [[ "$(cell "$r" "$c")" =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || { echo "$r col $c: $(cell "$r" "$c")"; false; }
    done
  done
  grep -F '| socket life-cycle, syslog' "$SMOKE_OUT"
  for r in 'start-up: everything' 'start-up: of which the constructor'; do
    [[ "$(cell "$r" 5)" =~ ^[0-9]+$ ]] && [ "$(cell "$r" 5)" -gt 0 ] || { echo "$r: $(cell "$r" 5)"; false; }
  done
  # the whole start-up is judged, against its goal
  [[ "$(cell 'start-up: everything' 6)" == '<=40,000' ]]
}

@test "bench smoke: system calls, wall time and policy shapes are filled" {
  for r in 'socket life-cycle, `REUSE_LOG=off`' 'one client connection'; do
    [[ "$(grep -F "| $r" "$SMOKE_OUT" | tail -1 | awk -F'|' '{ gsub(/ /, "", $4); print $4 }')" =~ ^-?[0-9]+\.[0-9]$ ]] ||
      { echo "$r: no system call count"; false; }
  done
  for r in '2000 socket life-cycles' '10 binds to a busy port'; do
    [[ "$(cell "$r" 4)" =~ ^[0-9]+\.[0-9]+$ ]] || { echo "$r: $(cell "$r" 4)"; false; }
  done
  for s in one ports hosts program uid nested mix mix6; do
    row=$(grep -E "^\| $s \|" "$SMOKE_OUT")
    [[ "$(awk -F'|' '{ gsub(/ /, "", $3); print $3 }' <<<"$row")" =~ ^[0-9]+$ ]] ||
      { echo "shape $s: no match cost"; false; }
    # the load in a later process, through the compiled image
    [[ "$(awk -F'|' '{ gsub(/ /, "", $10); print $10 }' <<<"$row")" =~ ^[0-9]+$ ]] ||
      { echo "shape $s: no cached load cost: $row"; false; }
  done
}

@test "bench smoke: lighttpd listens outside the test suite's ports, the header tells the tree's state" {
  ports=$(sed -n 's/^lighttpd listened on ports: //p' "$SMOKE_OUT")
  [ -n "$ports" ]
  for p in $ports; do
    [ "$p" -ge 10000 ] && [ "$p" -le 19999 ] || { echo "port $p"; false; }
  done
  grep -E '^Written by .*commit [0-9a-f]+' "$SMOKE_OUT"
  run bash -c "cd '$ROOT' && git status --porcelain --untracked-files=no -- . ':(exclude)bench/RESULTS.md'"
  if [ -z "$output" ]; then
    run grep -c 'uncommitted changes' "$SMOKE_OUT"
    assert_output 0
  else
    grep -q 'with uncommitted changes' "$SMOKE_OUT"
  fi
}

@test "bench smoke: decision, memory and throughput rows are filled" {
  for r in '1 rule' '200 rules, distinct ports' '200 rules, distinct hosts'; do
    [[ "$(cell "$r" 2)" =~ ^[0-9]+$ ]] || { echo "$r: $(cell "$r" 2)"; false; }
  done
  [[ "$(cell 'VmRSS holding' 2)" =~ ^[0-9]+$ ]]
  [[ "$(cell 'VmRSS holding' 3)" =~ ^[0-9]+$ ]]
  [[ "$(cell 'bytes per tracked socket, record size' 3)" =~ ^[0-9]+$ ]]
  # the verdict rows: CPU time per request and instructions per request
  for r in 'new connection per request' 'keep-alive'; do
    [[ "$(cell "$r" 2)" =~ ^[0-9]+$ ]] && [[ "$(cell "$r" 3)" =~ ^[0-9]+$ ]] &&
      [[ "$(cell "$r" 4)" =~ ^[0-9]+\.[0-9]+$ ]] && [[ "$(cell "$r" 9)" =~ ^-?[0-9]+\.[0-9]$ ]] ||
      { echo "$r: cpu $(cell "$r" 2) / $(cell "$r" 3) ratio $(cell "$r" 4), instructions $(cell "$r" 9)"; false; }
  done
}
