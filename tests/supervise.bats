#!/usr/bin/env bats
# reuse run --supervise (SIGHUP = a new instance takes over the handoff
# sockets, then the old one is stopped) and socket activation (a bind() to
# the address of a LISTEN_FDS socket adopts it), with systemd-socket-activate
# from Debian's systemd package. Counted with tests/daemons/counter.py
# against echo_tcp.py; each story with its control. Loopback only.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB/REUSE; bats sets $output

load helpers

D="$BATS_TEST_DIRNAME/daemons"
PY=/usr/bin/python3

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  T=$(mktemp -d /tmp/libreuse-supervise.XXXXXX)
  mkdir -m 1777 "$T/ho"
  export REUSE_HANDOFF_DIR=$T/ho
  PIDS=()
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

counting() {
  rm -f "$T/stop"
  "$PY" "$D/counter.py" tcp 127.0.0.1 "$1" "$T/stop" 60 >"$T/count" &
  COUNTER=$!
  PIDS+=("$COUNTER")
}

counted() {
  touch "$T/stop"
  wait "$COUNTER"
  run cat "$T/count"
  echo "$output"
}

runs() { sed -n 's/.*runs=\([^ ]*\).*/\1/p' <<<"$output" | tr ',' '\n' | cut -d: -f1 | uniq; }

# wait_for FILE TEXT [N] : until FILE has N (default 1) lines containing TEXT (bounded)
wait_for() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ $(grep -c -- "$2" "$1" 2>/dev/null) -ge ${3:-1} ]] && return 0
    sleep 0.05
  done
  return 1
}

supervised() {
  local port=$1
  "$REUSE" run --supervise --takeover-timeout 10 --policy "$T/policy" --log "$T/log" -- \
    "$PY" "$D/echo_tcp.py" 127.0.0.1 "$port" >"$T/sup.out" 2>"$T/sup.err" &
  SUP=$!
  PIDS+=("$SUP")
  wait_listen "$port" || fail "no instance listens: $(cat "$T/sup.err")"
}

# bats test_tags=quick
@test "--supervise + SIGHUP twice under load: 0 failed connections, three instances in turn" {
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s handoff\n' "$port" >"$T/policy"
  supervised "$port"
  counting "$port"
  sleep 0.5
  kill -HUP "$SUP"
  wait_for "$T/sup.err" "took over 1 handoff socket" || fail "$(cat "$T/sup.err")"
  sleep 0.5
  kill -HUP "$SUP"
  wait_for "$T/sup.err" "took over 1 handoff socket" 2 || fail "$(cat "$T/sup.err")"
  sleep 0.5
  counted
  assert_output --partial " failed=0 "
  [[ $(runs | sort -u | wc -l) -eq 3 ]] || fail "not three instances: $(runs)"
  kill -TERM "$SUP"
  local rc=0
  wait "$SUP" || rc=$?
  [[ $rc -eq 0 ]] || fail "supervisor exited $rc"
  run cat "$T/sup.err"
  echo "$output"
  assert_output --partial "SIGHUP: started pid"
  assert_line --regexp "stopping pid [0-9]+ with signal 15"
}

@test "--supervise: the exit status is the instance's; SIGTERM reaches it" {
  run "$REUSE" run --supervise -- sh -c 'exit 7'
  assert_failure 7
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s handoff\n' "$port" >"$T/policy"
  supervised "$port"
  kill -TERM "$SUP"
  local rc=0
  wait "$SUP" || rc=$?
  [[ $rc -eq 0 ]] || fail "supervisor exited $rc (echo_tcp.py exits 0 on SIGTERM)"
  # an instance killed by a signal: 128+N, as a shell says it
  run "$REUSE" run --supervise -- sh -c 'kill -KILL $$'
  assert_failure 137
  run "$REUSE" run --supervise --stop-signal NOPE -- true
  assert_failure 2
}

@test "control: --supervise without handoff: SIGHUP starts nothing, the old instance keeps serving" {
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s reuseaddr=force\n' "$port" >"$T/policy"
  supervised "$port"
  counting "$port"
  sleep 0.3
  kill -HUP "$SUP"
  wait_for "$T/sup.err" "SIGHUP ignored: pid [0-9]* serves no handoff socket" || fail "$(cat "$T/sup.err")"
  sleep 0.3
  counted
  assert_output --partial " failed=0 "
  [[ $(runs | wc -l) -eq 1 ]] || fail "another instance answered: $(runs)"
}

@test "control: a new instance that cannot take over is stopped, the old one keeps serving" {
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s handoff\n' "$port" >"$T/policy"
  supervised "$port"
  counting "$port"
  sleep 0.3
  # the next instance reads a policy without handoff: it cannot bind
  printf 'tcp 127.0.0.1:%s reuseaddr=force\n' "$port" >"$T/policy"
  kill -HUP "$SUP"
  wait_for "$T/sup.err" "exited (1) before taking over; pid [0-9]* keeps serving" ||
    fail "$(cat "$T/sup.err")"
  grep -q "Address already in use" "$T/sup.err"
  sleep 0.3
  counted
  assert_output --partial " failed=0 "
  [[ $(runs | wc -l) -eq 1 ]] || fail "another instance answered: $(runs)"
}

# a shell that receives the socket, runs one instance of the daemon, stops
# it, starts another: each with LISTEN_PID set to its own pid.
activated() {
  local port=$1 shim=$2
  cat >"$T/stopstart.sh" <<EOF
#!/bin/bash
start() {
  if [[ $shim == shim ]]; then
    env REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" bash -c 'export LISTEN_PID=\$\$; exec "$PY" "$D/echo_tcp.py" 127.0.0.1 $port' &
  else
    bash -c 'export LISTEN_PID=\$\$; exec "$PY" "$D/echo_tcp.py" 127.0.0.1 $port' &
  fi
  P=\$!
}
start; sleep 1; kill -TERM \$P; wait \$P; echo "first exited \$?"
start; echo "second started"
for ((i = 0; i < 600; i++)); do [[ -e $T/stop ]] && break; sleep 0.05; done
kill -TERM \$P; wait \$P; echo "second exited \$?"
EOF
  chmod +x "$T/stopstart.sh"
  systemd-socket-activate -l "127.0.0.1:$port" -- "$T/stopstart.sh" >"$T/act.out" 2>&1 &
  ACT=$!
  PIDS+=("$ACT")
  wait_listen "$port" || fail "systemd-socket-activate did not listen"
}

@test "socket activation across a stop/start of the daemon: 0 failed connections" {
  command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s reuseaddr=force\n' "$port" >"$T/policy"
  activated "$port" shim
  counting "$port"
  wait_for "$T/act.out" "second started" || fail "$(cat "$T/act.out")"
  sleep 1
  counted
  wait "$ACT"
  cat "$T/act.out"
  assert_output --partial " failed=0 "
  [[ $(runs | sort -u | wc -l) -eq 2 ]] || fail "not two instances: $(runs)"
  run cat "$T/log"
  echo "$output"
  assert_output --regexp "bind fd=[0-9]+ tcp 127.0.0.1:$port .*result=ok .*socket activation: adopted the passed socket tcp4-127.0.0.1-$port \(fd 3, LISTEN_FDS\)"
  [[ $(grep -c "socket activation: adopted" "$T/log") -eq 2 ]]
}

@test "control: socket activation without the shim: the daemon cannot bind the passed address" {
  command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
  local port; port=$(free_port)
  activated "$port" bare
  counting "$port"
  wait_for "$T/act.out" "second started" || fail "$(cat "$T/act.out")"
  touch "$T/stop"
  wait "$COUNTER" || true
  wait "$ACT" || true
  run cat "$T/act.out"
  echo "$output"
  assert_output --partial "Address already in use"
}

@test "socket activation + --supervise + SIGHUP: 0 failed connections" {
  command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s handoff\n' "$port" >"$T/policy"
  systemd-socket-activate -l "127.0.0.1:$port" -- "$REUSE" run --supervise --policy "$T/policy" \
    --log "$T/log" -- "$PY" "$D/echo_tcp.py" 127.0.0.1 "$port" >"$T/sup.out" 2>"$T/sup.err" &
  SUP=$!
  PIDS+=("$SUP")
  wait_listen "$port"
  counting "$port"
  wait_for "$T/sup.err" "started .* as pid" || fail "$(cat "$T/sup.err")"
  sleep 0.5
  kill -HUP "$SUP"
  wait_for "$T/sup.err" "took over 1 handoff socket" || fail "$(cat "$T/sup.err")"
  sleep 0.5
  counted
  assert_output --partial " failed=0 "
  [[ $(runs | sort -u | wc -l) -eq 2 ]] || fail "not two instances: $(runs)"
  [[ $(grep -c "socket activation: adopted" "$T/log") -eq 2 ]] || fail "$(cat "$T/log")"
}

# ---- a daemon that forks away (issue: --supervise must follow it) ----------

# supervised_daemon PORT [RUN OPTIONS...] : echo_tcp.py in daemon mode
supervised_daemon() {
  local port=$1
  shift
  "$REUSE" run --supervise --takeover-timeout 10 --policy "$T/policy" --log "$T/log" "$@" -- \
    "$PY" "$D/echo_tcp.py" 127.0.0.1 "$port" daemon "$T/pid" >"$T/sup.out" 2>"$T/sup.err" &
  SUP=$!
  PIDS+=("$SUP")
  wait_listen "$port" || fail "no instance listens: $(cat "$T/sup.err")"
}

@test "--supervise follows a daemon that forks away; SIGHUP under load: 0 failed; SIGTERM stops the daemon" {
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s handoff\n' "$port" >"$T/policy"
  supervised_daemon "$port"
  wait_for "$T/sup.err" "goes on as pid" || fail "$(cat "$T/sup.err")"
  local d1; d1=$(cat "$T/pid")
  grep -q "exited (0) and goes on as pid $d1 (from its handoff events); following it" "$T/sup.err" ||
    fail "$(cat "$T/sup.err")"
  kill -0 "$SUP" || fail "the supervisor exited while the daemon runs"
  counting "$port"
  sleep 0.5
  kill -HUP "$SUP"
  wait_for "$T/sup.err" "took over 1 handoff socket" || fail "$(cat "$T/sup.err")"
  sleep 0.7
  counted
  assert_output --partial " failed=0 "
  [[ $(runs | sort -u | wc -l) -eq 2 ]] || fail "not two daemons: $(runs)"
  local d2; d2=$(cat "$T/pid")
  [[ $d2 != "$d1" ]]
  kill -0 "$d1" 2>/dev/null && fail "the old daemon $d1 still runs"
  kill -TERM "$SUP"
  local rc=0
  wait "$SUP" || rc=$?
  [[ $rc -eq 0 ]] || fail "supervisor exited $rc: $(cat "$T/sup.err")"
  kill -0 "$d2" 2>/dev/null && fail "the daemon $d2 outlived its supervisor"
  true
}

@test "--supervise --pid-file follows the pid the daemon writes (no handoff rule needed)" {
  local port; port=$(free_port)
  printf 'tcp 127.0.0.1:%s reuseaddr=force\n' "$port" >"$T/policy"
  supervised_daemon "$port" --pid-file "$T/pid"
  wait_for "$T/sup.err" "goes on as pid" || fail "$(cat "$T/sup.err")"
  local d; d=$(cat "$T/pid")
  grep -q "goes on as pid $d (from its pid file)" "$T/sup.err" || fail "$(cat "$T/sup.err")"
  kill -TERM "$SUP"
  local rc=0
  wait "$SUP" || rc=$?
  [[ $rc -eq 0 ]] || fail "supervisor exited $rc"
  kill -0 "$d" 2>/dev/null && fail "the daemon outlived its supervisor"
  true
}

@test "--supervise never exits silently while processes the instance left run" {
  # two children, neither named anywhere: nothing to follow, so wait for both
  "$REUSE" run --supervise -- bash -c 'sleep 30.25 & sleep 30.25 & exit 0' >"$T/sup.out" 2>"$T/sup.err" &
  SUP=$!
  PIDS+=("$SUP")
  wait_for "$T/sup.err" "left 2 processes running" || fail "$(cat "$T/sup.err")"
  sleep 0.2
  kill -0 "$SUP" || fail "the supervisor exited"
  kill -TERM "$SUP"
  local rc=0 i
  for ((i = 0; i < 100; i++)); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.05; done
  wait "$SUP" || rc=$?
  # the sleeps got the SIGTERM (128+15 would be the status of one killed first)
  [[ $rc -eq 0 || $rc -eq 143 ]] || fail "supervisor exited $rc: $(cat "$T/sup.err")"
  run pgrep -f '^sleep 30\.25$'
  assert_failure
}

@test "control: an instance that exits leaving nothing ends the supervisor at once with its status" {
  local t0=$SECONDS
  run "$REUSE" run --supervise -- sh -c 'exit 3'
  assert_failure 3
  refute_output --partial "goes on as"
  [[ $((SECONDS - t0)) -lt 2 ]]
}
