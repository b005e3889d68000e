#!/usr/bin/env bats
# Issue 14's attacks closed after the first round of the adversarial suite
# (found open at first, kept apart from items.bats), each with its control.
# shellcheck disable=SC2153,SC2154  # common.bash sets the paths; bats sets $output

load common

# ---- 3. the keyed SO_REUSEPORT of an MPTCP listener --------------------------

mptcp_rp() {
  [[ $(cat /proc/sys/net/mptcp/enabled 2>/dev/null) == 1 ]] || skip "the kernel has no MPTCP (net.mptcp.enabled)"
  hold_case bare "$NOHIJACK" root tcp v4lo hold mptcp 127.0.0.1 PORT 20 rp
  hold_case "$1" "$NOHIJACK" root tcp v4lo hold mptcp 127.0.0.1 PORT 20 rp
}
@test "3 library: an exclusive root MPTCP listener asking SO_REUSEPORT: a root TCP joiner is refused" { mptcp_rp lib; }
@test "3 --seccomp: an exclusive root MPTCP listener asking SO_REUSEPORT: a root TCP joiner is refused" { mptcp_rp seccomp; }

# ---- 7. the lend window ---------------------------------------------------------

# lend_race BACKEND PROTO N : a root program makes N own overlapping binds
# 1 ms apart (each a lend) while uid 65534 spins on bind(127.0.0.1:PORT,
# SO_REUSEADDR). The figures go to fd 3; sets WINS (lends won).
lend_race() {
  local b=$1 proto=$2 n=$3 port
  port=$(free_port)
  prefix "$b" "$NOHIJACK" "$T/log"
  rm -f "$T/done"
  bg "$T/l.out" "${PRE[@]}" "$ITEMS" lender "$proto" "$port" "$n" "$T/done"
  wait_for "$T/l.out" '^ready' || fail "$(cat "$T/l.out")"
  "${NOBODY[@]}" "$ITEMS" spinner "$proto" "$port" 30 "$T/done" >"$T/s.out"
  stop "$LAST"
  WINS=$(sed -n 's/.*windows=//p' "$T/s.out")
  echo "# 7 $b $proto: $(grep '^lends=' "$T/l.out"); attacker $(cat "$T/s.out")" >&3
  grep -q "^lends=$n " "$T/l.out" || fail "$b $proto: $(cat "$T/l.out")"
}

lend() {
  # the control: bare, the program's own SO_REUSEADDR lets the spinner in all along
  lend_race bare "$2" 1000
  [[ $WINS -gt 0 ]] || fail "control: the spinner never won bare"
  lend_race "$1" "$2" 1000
  [[ $WINS == 0 ]] || fail "$1 $2: uid 65534 won $WINS of 1000 lends"
}
@test "7 library: uid 65534 spinning on bind() wins none of 1,000 UDP SO_REUSEADDR lends" { lend lib udp; }
@test "7 library: uid 65534 spinning on bind() wins none of 1,000 TCP SO_REUSEADDR lends" { lend lib tcp; }
@test "7 --seccomp: uid 65534 spinning on bind() wins none of 1,000 UDP SO_REUSEADDR lends" { lend seccomp udp; }
@test "7 --seccomp: uid 65534 spinning on bind() wins none of 1,000 TCP SO_REUSEADDR lends" { lend seccomp tcp; }

# ---- 8. a listener after shutdown() ---------------------------------------------

shut() {
  local p
  p=$(pol 'tcp *:* exclusive')
  # the control: a program asking SO_REUSEADDR itself is open after shutdown bare
  hold_case bare "$p" nobody tcp v4lo shut PORT ra 20
  hold_case "$1" "$p" nobody tcp v4lo shut PORT none 20
  hold_case "$1" "$p" nobody tcp v4lo shut PORT ra 20
}
@test "8 library: an exclusive TCP listener after shutdown(SHUT_RDWR): uid 65534 cannot bind over it" { shut lib; }
@test "8 --seccomp: an exclusive TCP listener after shutdown(SHUT_RDWR): uid 65534 cannot bind over it" { shut seccomp; }

# ---- 8. a listener closed while a connection drains ----------------------------

@test "8 library: an exclusive TCP listener closed while a connection drains: uid 65534 cannot bind over it" { drain lib; }

# The connections a drained listener left get SO_REUSEADDR back as they
# close: their TIME_WAIT entries still let the next exclusive run bind, as
# an unprivileged user (no CAP_NET_ADMIN to clear them).
drain_then_restart() {
  local port p py=/usr/bin/python3 prog
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port exclusive")
  prog="import socket, sys
port = int(sys.argv[1])
s = socket.socket(); s.bind(('127.0.0.1', port)); s.listen(4)
c = socket.create_connection(('127.0.0.1', port))
a, _ = s.accept()
s.close()
print('conn_ra=%d' % a.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR), flush=True)
a.close(); c.close()"
  prefix "$1" "$p" "$T/log"
  run timeout 10 "${NOBODY[@]}" "${PRE[@]}" "$py" -c "$prog" "$port"
  assert_success
  ss -Htan state time-wait "sport = :$port" | grep -q . || fail "no TIME_WAIT entry on $port"
  prefix "$1" "$p" "$T/log2"
  run timeout 10 "${NOBODY[@]}" "${PRE[@]}" "$py" -c "import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(1); print('restarted')" "$port"
  assert_output --partial restarted
}
@test "8 library: after a drained listener, its connections' TIME_WAIT still lets the next exclusive run bind (uid 65534)" {
  drain_then_restart lib
}
@test "8 --seccomp: after a drained listener, its connections' TIME_WAIT still lets the next exclusive run bind (uid 65534)" {
  drain_then_restart seccomp
}

# ---- 9. the implicit bind of sendto() --------------------------------------------

@test "9 library: sendto() on an unbound UDP socket: uid 65534 cannot take the reply port" { implicit lib; }

# ---- 19. an accepted socket's SO_REUSEADDR ------------------------------------------

accepted() {
  local b port p
  p=$(pol 'tcp *:* exclusive')
  for b in bare "$1"; do
    port=$(free_port)
    prefix "$b" "$p" "$T/log"
    run timeout 10 "${PRE[@]}" "$ITEMS" accepted "$port"
    assert_line --regexp '^accepted_seen_ra=0 '
  done
}
@test "19 library: an accepted socket of an exclusive listener reports SO_REUSEADDR 0, as bare" { accepted lib; }
@test "19 --seccomp: an accepted socket of an exclusive listener reports SO_REUSEADDR 0, as bare" { accepted seccomp; }

# ---- an unbound socket passed out and back -------------------------------------

@test "library: an unbound socket a helper set SO_REUSEADDR on (SCM_RIGHTS) is still exclusive at bind" {
  # The record knows what this process asked; it cannot see a process the
  # socket visited. Control: bare, the helper's option lets uid 65534 in.
  local port p f
  port=$(free_port)
  p=$(pol "udp 127.0.0.1:$port exclusive")
  bg "$T/d.out" "$ROOT/tests/daemons/passopt.py" "$port" 5
  wait_for "$T/d.out" '^bind=ok' || fail "$(cat "$T/d.out")"
  run "${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" ra 0
  assert_line --index 0 "bind=ok"
  stop "$LAST"
  bg "$T/d.out" env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG=off \
    "$ROOT/tests/daemons/passopt.py" "$port" 5
  wait_for "$T/d.out" '^bind=ok' || fail "$(cat "$T/d.out")"
  for f in none ra rp rarp; do
    run "${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" "$f" 0
    assert_line --index 0 "bind=EADDRINUSE"
  done
  stop "$LAST"
}
