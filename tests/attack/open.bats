#!/usr/bin/env bats
# NOT RUN BY `make check` (scripts/run-tests leaves this file out): issue 14's
# attacks that still get through, each with its control. Run by hand:
#   scripts/run-tests tests/attack/open.bats
# A test that passes here moves to tests/attack/items.bats.
# shellcheck disable=SC2153,SC2154  # common.bash sets the paths; bats sets $output

load common

ITEMS="$PROBES/attackitems"

setup() { attack_setup; }
teardown() { attack_teardown; }

bg() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  LAST=$!
  PIDS+=("$LAST")
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

expect_attack() {
  if [[ $1 == bare ]]; then
    [[ $2 -gt 0 ]] || fail "control ($3): no attack got through bare"
  else
    [[ $2 == 0 ]] || fail "$1 ($3): $2 attacks got through: $(grep 'overlap=1 result=ok' "$T/strike" | head -5)"
  fi
}

# hold_case BACKEND POLICY WHO PROTO VICTIM PROBE-ARGS... : the probe holds
# a victim, WHO strikes it; PORT in PROBE-ARGS is replaced by a free port.
hold_case() {
  local b=$1 p=$2 who=$3 proto=$4 vname=$5 port n args=()
  shift 5
  port=$(free_port)
  for a in "$@"; do args+=("${a//PORT/$port}"); done
  prefix "$b" "$p" "$T/log"
  bg "$T/v.out" "${PRE[@]}" "$ITEMS" "${args[@]}"
  wait_for "$T/v.out" '^ready' 600 || fail "$b: $(cat "$T/v.out")"
  # the probe may report the port it got (sendto's implicit bind)
  if grep -q '^port=' "$T/v.out"; then port=$(sed -n 's/^port=//p' "$T/v.out"); fi
  n=$(strike "$who" "$proto" "$vname" "$port")
  stop "$LAST"
  echo "# $b ${args[0]}: $n overlapping binds by $who got through" >&3
  expect_attack "$b" "$n" "${args[0]}"
}

# Each test is one backend: bare (the control) and the library or --seccomp.

# ---- 8. a listener closed while a connection drains ----------------------------

drain() {
  local p
  p=$(pol 'tcp *:* exclusive')
  hold_case bare "$p" nobody tcp v4lo drain PORT ra 20
  hold_case "$1" "$p" nobody tcp v4lo drain PORT none 20
}
@test "8 (open) library: an exclusive TCP listener closed while a connection drains: uid 65534 cannot bind over it" { drain lib; }
@test "8 (open) --seccomp: an exclusive TCP listener closed while a connection drains: uid 65534 cannot bind over it" { drain seccomp; }

# ---- 9. the implicit bind of sendto() --------------------------------------------
# --seccomp: sendto is not filtered (every send would stop); the library's
# case is in tests/attack/closed.bats.

implicit() {
  local sink
  sink=$(free_port)
  hold_case bare "$NOHIJACK" nobody udp v4any sendto "$sink" 20
  hold_case "$1" "$NOHIJACK" nobody udp v4any sendto "$sink" 20
}
@test "9 (open) --seccomp: sendto() on an unbound UDP socket: uid 65534 cannot take the reply port" { implicit seccomp; }

# ---- 11. Landlock -------------------------------------------------------------------

landlock() {
  local b port allow p
  p=$(pol 'tcp *:* exclusive')
  for b in bare "$1"; do
    port=$(free_port)
    allow=$(free_port)
    prefix "$b" "$p" "$T/log"
    run timeout 10 "${PRE[@]}" "$ITEMS" landlock "$allow" "$port"
    [[ $output != *unsupported* ]] || skip "the kernel has no Landlock network rules (ABI 4)"
    assert_line 'landlock=ok bind=EACCES'
  done
}
# (the library: tests/attack/items.bats)
@test "11 (open) --seccomp: a bind the target's own Landlock domain forbids is refused as bare" { landlock seccomp; }

