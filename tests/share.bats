#!/usr/bin/env bats
# Sharing one port among instances of a daemon that sets no reuse option
# (reuseport=force), each story with its control: without the shim the
# second instance cannot bind; keyed (root, CAP_CHOWN) a same-uid stranger
# with SO_REUSEPORT is refused; unkeyed (instances run as nobody) the
# stranger joins and takes connections, and the log says so. The daemons
# are tests/daemons/echo_tcp.py and echo_udp.py (they answer their pid);
# the client is tests/daemons/counter.py. Loopback only; the
# tcp_migrate_req cases run inside network namespaces made and removed here.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB; bats sets $output

load helpers

D="$BATS_TEST_DIRNAME/daemons"
PY=/usr/bin/python3
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  # readable and writable by user nobody (BATS_TEST_TMPDIR is under a 0700 dir)
  T=$(mktemp -d /tmp/libreuse-share.XXXXXX)
  chmod 755 "$T"
  : >"$T/log"
  chmod 666 "$T/log"
  PIDS=()
  NS=""
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n $NS ]]; then ip netns del "$NS" 2>/dev/null || true; fi
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

policy() {
  printf '%s\n' "$@" >"$T/policy"
  chmod 644 "$T/policy"
}

# start NAME AS PROTO PORT [shim] : an echo daemon as root (AS=root) or
# nobody, under the shim when the 5th word is "shim"; waits until bound.
start() {
  local name=$1 as=$2 proto=$3 port=$4 shim=${5:-} pre=()
  [[ $as == nobody ]] && pre=("${NOBODY[@]}")
  if [[ $shim == shim ]]; then
    pre+=(env REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" LD_PRELOAD="$LIB")
  fi
  "${pre[@]}" "$PY" "$D/echo_$proto.py" 127.0.0.1 "$port" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  eval "$name=$!"
  local i
  for ((i = 0; i < 100; i++)); do
    grep -qE '^(listening|bound)' "$T/$name.out" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# count PROTO PORT N : counter.py's line for N attempts
count() {
  "$PY" "$D/counter.py" "$1" 127.0.0.1 "$2" "$T/never" 30 "$3"
}

# answered PID : how many answers PID gave in $output's runs
answered() {
  local runs total=0 r
  runs=$(sed -n 's/.*runs=\([^ ]*\).*/\1/p' <<<"$output")
  IFS=, read -ra r <<<"$runs"
  for x in "${r[@]}"; do [[ ${x%%:*} == "$1" ]] && total=$((total + ${x##*:})); done
  echo "$total"
}

@test "control: without the shim a second instance cannot bind (TCP and UDP)" {
  local port; port=$(free_port)
  start a root tcp "$port"
  run "$PY" "$D/echo_tcp.py" 127.0.0.1 "$port"
  assert_failure 1
  assert_output --partial "Address already in use"
  start u root udp "$port"
  run "$PY" "$D/echo_udp.py" 127.0.0.1 "$port"
  assert_failure 1
  assert_output --partial "Address already in use"
}

# bats test_tags=quick
@test "reuseport=force: two TCP instances share one port, both answer" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port reuseport=force"
  start a root tcp "$port" shim
  start b root tcp "$port" shim || fail "second instance: $(cat "$T/b.err")"
  run count tcp "$port" 50
  echo "$output"
  assert_output --partial "ok=50 failed=0"
  [[ $(answered "$a") -gt 0 ]] || fail "instance a ($a) never answered"
  [[ $(answered "$b") -gt 0 ]] || fail "instance b ($b) never answered"
  [[ $(($(answered "$a") + $(answered "$b"))) -eq 50 ]]
}

@test "reuseport=force: two UDP instances share one port, both answer" {
  local port; port=$(free_port)
  policy "udp 127.0.0.1:$port reuseport=force"
  start a root udp "$port" shim
  start b root udp "$port" shim || fail "second instance: $(cat "$T/b.err")"
  run count udp "$port" 50
  echo "$output"
  assert_output --partial "ok=50 failed=0"
  [[ $(answered "$a") -gt 0 ]] || fail "instance a ($a) never answered"
  [[ $(answered "$b") -gt 0 ]] || fail "instance b ($b) never answered"
}

@test "keyed (root): a same-uid stranger with SO_REUSEPORT is refused, the instances still share" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port reuseport=force" "udp 127.0.0.1:$port reuseport=force"
  start a root tcp "$port" shim
  start b root tcp "$port" shim
  start ua root udp "$port" shim
  start ub root udp "$port" shim
  run "$PY" "$D/attacker.py" tcp 127.0.0.1 "$port" rp 0
  assert_output "bind=EADDRINUSE"
  run "$PY" "$D/attacker.py" udp 127.0.0.1 "$port" rp 0
  assert_output "bind=EADDRINUSE"
  # another uid is refused too
  run "${NOBODY[@]}" "$PY" "$D/attacker.py" tcp 127.0.0.1 "$port" rp 0
  assert_output "bind=EADDRINUSE"
  run grep -c "keyed (owner uid 2147483646)" "$T/log"
  assert_output 4
  ss -Htlne "sport = :$port" | grep -q "uid:2147483646" || fail "socket not keyed: $(ss -Htlne "sport = :$port")"
  run count tcp "$port" 50
  assert_output --partial "ok=50 failed=0"
  [[ $(answered "$a") -gt 0 && $(answered "$b") -gt 0 ]] || fail "$output"
}

@test "control, unkeyed (instances run as nobody): a same-uid stranger joins and takes connections; the log says so" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port reuseport=force"
  start a nobody tcp "$port" shim
  start b nobody tcp "$port" shim || fail "second instance: $(cat "$T/b.err")"
  run grep -c "same-uid processes can join\|any process of this uid" "$T/log"
  assert_output 2
  run grep -c "keyed (owner" "$T/log"
  assert_output 0
  "${NOBODY[@]}" "$PY" "$D/attacker.py" tcp 127.0.0.1 "$port" rp 4 >"$T/attacker.out" &
  PIDS+=($!)
  local i
  for ((i = 0; i < 100; i++)); do grep -q listen=ok "$T/attacker.out" && break; sleep 0.05; done
  run count tcp "$port" 50
  echo "$output"
  # every connection was answered or closed: end the stranger's count now
  kill -TERM "${PIDS[-1]}" 2>/dev/null || true
  wait "${PIDS[-1]}" || true
  run cat "$T/attacker.out"
  echo "$output"
  assert_line "bind=ok"
  assert_line "listen=ok"
  got=$(sed -n 's/^got=//p' "$T/attacker.out")
  [[ $got -gt 0 ]] || fail "the stranger took no connection: $output"
}

# in_ns VALUE PORT : in a fresh network namespace with tcp_migrate_req=VALUE,
# one instance under reuseport=force listens; prints its log (the listen()
# line is there only when it has something to say).
in_ns() {
  NS="libreuse-share-$$-$BATS_TEST_NUMBER"
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
  ip netns exec "$NS" sysctl -q -w "net.ipv4.tcp_migrate_req=$1"
  policy "tcp 127.0.0.1:$2 reuseport=force"
  ip netns exec "$NS" env REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" LD_PRELOAD="$LIB" \
    timeout 10 "$PY" "$D/echo_tcp.py" 127.0.0.1 "$2" >"$T/ns.out" 2>&1 &
  local p=$! i
  for ((i = 0; i < 100; i++)); do grep -q listening "$T/ns.out" && break; sleep 0.05; done
  kill "$p"; wait "$p" || true
  ip netns del "$NS"; NS=""
  cat "$T/log"
}

@test "listen() of a shared TCP socket warns when tcp_migrate_req=0 and says the fix; not when 1" {
  command -v ip >/dev/null || skip "iproute2 not installed"
  local port; port=$(free_port)
  run in_ns 0 "$port"
  echo "$output"
  assert_output --regexp " listen fd=[0-9]+ tcp 127.0.0.1:$port .*net.ipv4.tcp_migrate_req=0"
  assert_output --partial "fix: sysctl net.ipv4.tcp_migrate_req=1"
  : >"$T/log"
  run in_ns 1 "$port"
  echo "$output"
  assert_output --regexp " bind fd=[0-9]+ tcp 127.0.0.1:$port .*result=ok"
  refute_output --partial "tcp_migrate_req"
}
