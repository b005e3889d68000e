#!/usr/bin/env bats
# handoff: a new instance of a daemon that sets no reuse option takes over
# the running instance's socket instead of failing with EADDRINUSE, while a
# client connects continuously; the old one is then stopped. Counted with
# tests/daemons/counter.py against echo_tcp.py / echo_udp.py (they answer
# their pid). Each story has its control. Handoff directories live under a
# temporary REUSE_HANDOFF_DIR (mode 1777, like /tmp), one 0700 directory
# per uid inside, as the library makes them. Loopback only.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets LIB; bats sets $output

load helpers

D="$BATS_TEST_DIRNAME/daemons"
PY=/usr/bin/python3
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD REUSE_HANDOFF_DIR
  T=$(mktemp -d /tmp/libreuse-handoff.XXXXXX)
  chmod 755 "$T"
  mkdir -m 1777 "$T/ho"
  : >"$T/log"
  chmod 666 "$T/log"
  PIDS=()
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

policy() {
  printf '%s\n' "$@" >"$T/policy"
  chmod 644 "$T/policy"
}

# start NAME AS PROTO PORT [shim] : echo_PROTO.py as root or nobody, under
# the shim (with the handoff directory) when the 5th word is "shim".
# Returns once it printed that it is bound, 1 if it exited first.
start() {
  local name=$1 as=$2 proto=$3 port=$4 shim=${5:-} pre=() i
  [[ $as == nobody ]] && pre=("${NOBODY[@]}")
  if [[ $shim == shim ]]; then
    pre+=(env REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" REUSE_HANDOFF_DIR="$T/ho"
      LD_PRELOAD="$LIB")
  fi
  "${pre[@]}" "$PY" "$D/echo_$proto.py" 127.0.0.1 "$port" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  eval "$name=$!"
  for ((i = 0; i < 100; i++)); do
    grep -qE '^(listening|bound)' "$T/$name.out" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# counting PROTO PORT : counter.py in the background until $T/stop exists
counting() {
  rm -f "$T/stop"
  "$PY" "$D/counter.py" "$1" 127.0.0.1 "$2" "$T/stop" 60 >"$T/count" &
  COUNTER=$!
  PIDS+=("$COUNTER")
  sleep 0.5
}

# counted : stop the counter, its line in $output
counted() {
  touch "$T/stop"
  wait "$COUNTER"
  run cat "$T/count"
  echo "$output"
}

# answered PID : how many answers PID gave in $output's runs
answered() {
  local runs total=0 r x
  runs=$(sed -n 's/.*runs=\([^ ]*\).*/\1/p' <<<"$output")
  IFS=, read -ra r <<<"$runs"
  for x in "${r[@]}"; do [[ ${x%%:*} == "$1" ]] && total=$((total + ${x##*:})); done
  echo "$total"
}

# last_run : PID:COUNT of the last run in $output
last_run() { sed -n 's/.*runs=\([^ ]*\).*/\1/p' <<<"$output" | tr ',' '\n' | tail -1; }

# switch PROTO PORT : under load, start instance b while a serves, stop a,
# let b serve alone for a while; leaves the counter's line in $output.
switch() {
  local proto=$1 port=$2
  start a root "$proto" "$port" shim
  counting "$proto" "$port"
  start b root "$proto" "$port" shim || fail "new instance did not start: $(cat "$T/b.err")"
  sleep 0.5
  kill -TERM "$a"
  wait "$a" || fail "old instance exited $?"
  sleep 0.7
  counted
}

# bats test_tags=quick
@test "TCP handoff under load: 0 failed connections, both answered, then the new one alone; logged on both sides" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  switch tcp "$port"
  assert_output --partial " failed=0 "
  [[ $(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$output") -ge 200 ]] || fail "too few connections to count"
  [[ $(answered "$a") -gt 0 ]] || fail "old instance $a never answered"
  [[ $(answered "$b") -gt 0 ]] || fail "new instance $b never answered"
  [[ $(last_run) == "$b":* ]] || fail "the last answers were not the new instance's"
  # b alone after a stopped: its last run is long (0.7 s at ~400/s)
  [[ $(last_run | cut -d: -f2) -ge 20 ]] || fail "new instance did not serve alone: $(last_run)"
  run cat "$T/log"
  echo "$output"
  assert_output --regexp "libreuse\[$a\]: .* handoff fd=[0-9]+ tcp 127.0.0.1:$port .*result=ok .*handed tcp4-127.0.0.1-$port to pid $b"
  assert_output --regexp "libreuse\[$b\]: .* bind fd=[0-9]+ tcp 127.0.0.1:$port .*result=ok .*took over tcp4-127.0.0.1-$port from pid $a"
  # the new instance serves the next one: its name now points at b
  [[ $(readlink "$T/ho/0/tcp4-127.0.0.1-$port") == "pid-$b.sock" ]]
  [[ $(stat -c %a "$T/ho/0") == 700 ]]
}

@test "control: without handoff the new instance cannot bind" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port reuseaddr=force"
  start a root tcp "$port" shim
  if start b root tcp "$port" shim; then fail "the new instance bound"; fi
  run cat "$T/b.err"
  assert_output --partial "Address already in use"
  run grep -c " handoff fd=\| handoff:" "$T/log"
  assert_output 0
}

@test "handoff rule but no instance under libreuse holds it: EADDRINUSE, and the log says why" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  start a root tcp "$port"           # not under the shim
  if start b root tcp "$port" shim; then fail "b bound"; fi
  run cat "$T/b.err"
  assert_output --partial "Address already in use"
  run cat "$T/log"
  assert_output --partial "result=EADDRINUSE"
  assert_output --partial "handoff: no running instance of uid 0 serves it"
}

@test "UDP handoff: every numbered datagram answered across the switch, by both instances" {
  local port; port=$(free_port)
  policy "udp 127.0.0.1:$port handoff"
  switch udp "$port"
  assert_output --partial " failed=0 "
  [[ $(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$output") -ge 100 ]] || fail "too few datagrams"
  [[ $(answered "$a") -gt 0 ]] || fail "old instance $a never answered"
  [[ $(answered "$b") -gt 0 ]] || fail "new instance $b never answered"
  [[ $(last_run) == "$b":* ]] || fail "the last answers were not the new instance's"
  run cat "$T/log"
  assert_output --regexp "libreuse\[$b\]: .* bind fd=[0-9]+ udp 127.0.0.1:$port .*took over udp4-127.0.0.1-$port from pid $a"
}

@test "another uid never receives the socket: nobody's instance cannot get root's, nor root's nobody's" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  start a root tcp "$port" shim
  # nobody looks in its own directory: no instance of its uid serves it
  if start n nobody tcp "$port" shim; then fail "n bound"; fi
  run grep "libreuse\[$n\]" "$T/log"
  assert_output --partial "result=EADDRINUSE"
  assert_output --partial "handoff: no running instance of uid 65534 serves it"
  # led to root's listener, nobody cannot even reach it (root's 0700 directory)
  ln -s "../0/pid-$a.sock" "$T/ho/65534/tcp4-127.0.0.1-$port"
  if start n2 nobody tcp "$port" shim; then fail "n2 bound"; fi
  run grep "libreuse\[$n2\]" "$T/log"
  assert_output --partial "handoff: cannot reach the instance of uid 65534 serving it"
  assert_output --partial "Permission denied"
  # asked directly by a process of another uid, root's instance refuses
  run "${NOBODY[@]}" "$PY" "$D/ask_handoff.py" "$T/ho/0/tcp4-127.0.0.1-$port" tcp 127.0.0.1 "$port"
  assert_output "connect=EACCES"
  kill "$a"; wait "$a" || true

  # and vice versa: nobody's instance serves; root is led to it
  port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  start m nobody tcp "$port" shim
  ln -sf "../65534/pid-$m.sock" "$T/ho/0/tcp4-127.0.0.1-$port"
  if start rt root tcp "$port" shim; then fail "rt bound"; fi
  run grep "libreuse\[$rt\]" "$T/log"
  assert_output --partial "handoff: refused: $T/ho/0/tcp4-127.0.0.1-$port is served by pid $m of uid 65534, not this uid 0"
  # root asking without the library's client checks: nobody's instance refuses
  run "$PY" "$D/ask_handoff.py" "$T/ho/65534/pid-$m.sock" tcp 127.0.0.1 "$port"
  assert_output "status=EPERM fd=no"
  run grep "libreuse\[$m\]" "$T/log"
  assert_output --regexp "handoff fd=[0-9]+ tcp 127.0.0.1:$port .*result=EPERM .*refused to hand tcp4-127.0.0.1-$port to pid [0-9]+: its uid 0 is not 65534"
  # the same request from its own uid is answered with the socket
  run "${NOBODY[@]}" "$PY" "$D/ask_handoff.py" "$T/ho/65534/pid-$m.sock" tcp 127.0.0.1 "$port"
  assert_output "status=ok fd=yes"
}

@test "a directory that is not 0700 and the uid's own is refused, logged" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  mkdir -m 755 "$T/ho/0"
  start a root tcp "$port" shim
  run cat "$T/log"
  assert_output --partial "cannot serve tcp4-127.0.0.1-$port to a next instance: directory $T/ho/0: not a 0700 directory of this uid"
  if start b root tcp "$port" shim; then fail "b bound"; fi
  run grep "libreuse\[$b\]" "$T/log"
  assert_output --partial "handoff: directory $T/ho/0: not a 0700 directory of this uid, refused"
}

@test "a forked child serves the sockets it holds too; the name stays with the parent, which hands over" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" REUSE_HANDOFF_DIR="$T/ho" LD_PRELOAD="$LIB" \
    "$PY" -c '
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
pid = os.fork()
name = "child" if pid == 0 else "parent"
with open(sys.argv[2] + "/" + name, "w") as f: f.write(str(os.getpid()))
time.sleep(20)
' "$port" "$T" &
  PIDS+=($!)
  local i child parent
  for ((i = 0; i < 100; i++)); do [[ -s $T/parent && -s $T/child ]] && break; sleep 0.05; done
  parent=$(cat "$T/parent")
  child=$(cat "$T/child")
  PIDS+=("$child")
  run ss -Hxlp
  assert_output --regexp "$T/ho/0/pid-$parent.sock .*pid=$parent,"
  assert_output --regexp "$T/ho/0/pid-$child.sock .*pid=$child,"
  [[ $(readlink "$T/ho/0/tcp4-127.0.0.1-$port") == "pid-$parent.sock" ]]
  start b root tcp "$port" shim || fail "$(cat "$T/b.err")"
  run grep "libreuse\[$b\]" "$T/log"
  assert_output --partial "took over tcp4-127.0.0.1-$port from pid $parent"
}

# daemonize PORT : a python daemon under the shim that binds, forks, and
# whose parent exits at once; the child's pid in $child
daemonize() {
  REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" REUSE_HANDOFF_DIR="$T/ho" LD_PRELOAD="$LIB" \
    "$PY" -c '
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
if os.fork(): os._exit(0)
os.setsid()
with open(sys.argv[2] + "/child", "w") as f: f.write(str(os.getpid()))
while True:
    c, _ = s.accept(); c.sendall(b"%d\n" % os.getpid()); c.close()
' "$1" "$T"
  local i
  for ((i = 0; i < 100; i++)); do [[ -s $T/child ]] && break; sleep 0.05; done
  child=$(cat "$T/child")
  PIDS+=("$child")
}

@test "a daemon that forks away after binding (the parent exits): the child hands the socket over" {
  local port child; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  daemonize "$port"
  kill -0 "$child"
  start b root tcp "$port" shim || fail "$(cat "$T/b.err") $(cat "$T/log")"
  run grep "libreuse\[$b\]" "$T/log"
  echo "$output"
  assert_output --partial "took over tcp4-127.0.0.1-$port from pid $child"
  # within a second of its parent's exit the child's name was repaired
  run grep "libreuse\[$child\]" "$T/log"
  assert_output --partial "handed tcp4-127.0.0.1-$port to pid $b"
}

@test "a daemon that forks away: the name is repaired to point at the live child within 2 s" {
  local port child i; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  daemonize "$port"
  for ((i = 0; i < 40; i++)); do
    [[ $(readlink "$T/ho/0/tcp4-127.0.0.1-$port") == "pid-$child.sock" ]] && break
    sleep 0.05
  done
  [[ $(readlink "$T/ho/0/tcp4-127.0.0.1-$port") == "pid-$child.sock" ]] ||
    fail "name: $(readlink "$T/ho/0/tcp4-127.0.0.1-$port"), child $child"
}

@test "stale name: A, B takes over from A, B is killed; C takes over from A, which still serves" {
  local port; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  start a root tcp "$port" shim
  start b root tcp "$port" shim || fail "$(cat "$T/b.err")"
  [[ $(readlink "$T/ho/0/tcp4-127.0.0.1-$port") == "pid-$b.sock" ]]
  kill -KILL "$b"
  wait "$b" 2>/dev/null || true
  # at once, before A's look-up repaired the name: C asks the other live servers
  start c root tcp "$port" shim || fail "$(cat "$T/c.err") $(cat "$T/log")"
  run grep "libreuse\[$c\]" "$T/log"
  echo "$output"
  assert_output --partial "took over tcp4-127.0.0.1-$port from pid $a"
  [[ $(readlink "$T/ho/0/tcp4-127.0.0.1-$port") == "pid-$c.sock" ]]
}

@test "a server whose program closed the served socket stops serving within 2 s" {
  local port i; port=$(free_port)
  policy "tcp 127.0.0.1:$port handoff"
  REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" REUSE_HANDOFF_DIR="$T/ho" LD_PRELOAD="$LIB" \
    "$PY" -c '
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
with open(sys.argv[2] + "/pid", "w") as f: f.write(str(os.getpid()))
time.sleep(0.3); s.close(); time.sleep(20)
' "$port" "$T" &
  PIDS+=($!)
  local p
  for ((i = 0; i < 100; i++)); do [[ -s $T/pid ]] && break; sleep 0.05; done
  p=$(cat "$T/pid")
  [[ -S $T/ho/0/pid-$p.sock ]]
  for ((i = 0; i < 50; i++)); do [[ -S $T/ho/0/pid-$p.sock ]] || break; sleep 0.05; done
  [[ ! -S $T/ho/0/pid-$p.sock ]] || fail "pid $p still serves"
  run ss -Hxlp
  refute_output --partial "pid=$p,"
}

# A daemon that sets SO_REUSEPORT itself (haproxy, unbound, named) or, on
# UDP, SO_REUSEADDR (dnsmasq): its new instance would bind beside the old
# socket and what was queued there would be lost when the old one stops.
@test "a program that sets SO_REUSEPORT (TCP) or SO_REUSEADDR (UDP) itself: the new instance takes the old socket instead of joining it" {
  local port proto a b n
  for proto in tcp udp; do
    port=$(free_port)
    policy "$proto 127.0.0.1:$port handoff"
    : >"$T/log"
    for who in a b; do
      REUSE_POLICY="$T/policy" REUSE_LOG="$T/log" REUSE_HANDOFF_DIR="$T/ho" LD_PRELOAD="$LIB" \
        "$PY" -c '
import socket, sys, time
udp = sys.argv[1] == "udp"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR if udp else socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[2])))
udp or s.listen(8)
print("bound", flush=True)
time.sleep(20)' "$proto" "$port" >"$T/$who.out" 2>&1 &
      PIDS+=($!)
      eval "$who=$!"
      for ((i = 0; i < 100; i++)); do grep -q '^bound' "$T/$who.out" && break; sleep 0.05; done
      grep -q '^bound' "$T/$who.out" || fail "$proto $who: $(cat "$T/$who.out" "$T/log")"
    done
    run grep "libreuse\[$b\].* bind .*handoff: took over ${proto}4-127.0.0.1-$port from pid $a" "$T/log"
    assert_success
    # one socket holds the port, shared by both processes: nothing bound beside it
    n=$(ss -Hn "$([[ $proto == tcp ]] && echo -tl || echo -ua)" "sport = :$port" | wc -l)
    [[ $n == 1 ]] || fail "$proto: $n sockets on the port: $(ss -Hnp "sport = :$port")"
    kill "$a" "$b" 2>/dev/null || true
    wait "$a" "$b" 2>/dev/null || true
  done
}
