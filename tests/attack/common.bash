# Shared set-up for tests/attack/*.bats: helpers.bash, with the paths of the
# tree two levels up (helpers.bash takes them from one level up).
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # used by the files that load this one; bats sets $output

load ../helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
LIB="${REUSE_TEST_LIB:-$ROOT/build/libreuse.so}"
REUSE="$ROOT/build/reuse"
PROBES="$ROOT/build/probes"
NOHIJACK="$ROOT/policy/no-hijack.policy"
export ROOT LIB REUSE PROBES NOHIJACK
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# A directory user nobody can read (BATS_TEST_TMPDIR sits under a 0700 one),
# and the background processes to stop at the end.
attack_setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  T=$(mktemp -d /tmp/libreuse-attack.XXXXXX)
  chmod 755 "$T"
  PIDS=()
}

attack_teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n ${T:-} && -d $T ]]; then rm -rf "$T"; fi
}

# pol LINE... : a policy file nobody can read; prints its path.
pol() {
  printf '%s\n' "$@" >"$T/policy"
  chmod 644 "$T/policy"
  echo "$T/policy"
}

# prefix BACKEND POLICY LOG : sets PRE, the command prefix that runs a
# program bare (BACKEND bare), preloaded (lib) or supervised (seccomp), with
# POLICY and the log in LOG.
prefix() {
  : >"$3"
  chmod 666 "$3"
  case $1 in
    bare) PRE=(env) ;;
    lib) PRE=(env REUSE_POLICY="$2" REUSE_LOG="$3" LD_PRELOAD="$LIB") ;;
    seccomp) PRE=("$REUSE" run --seccomp --policy "$2" --log "$3" --) ;;
  esac
}

# strike WHO PROTO VICTIM PORT : every attacker of tests/probes/attackmatrix.c
# (WHO root, nobody or userns) against one victim (its name there: v4lo,
# v4any, v6lo...); prints how many overlapping binds got through.
strike() {
  local run=()
  case $1 in
    nobody) run=("${NOBODY[@]}") ;;
    userns) run=("${NOBODY[@]}" unshare -Ur) ;;
  esac
  echo "V 0 $2 $3 none $4" | "${run[@]}" "$PROBES/attackmatrix" attack "$1" >"$T/strike"
  [[ $(grep -c '^A ' "$T/strike") == 128 ]] || { echo "strike: $(head -3 "$T/strike")" >&2; return 1; }
  grep -c 'overlap=1 result=ok' "$T/strike" || true
}

# wait_for FILE PATTERN [TRIES] : until a line of FILE matches (bounded, 0.05 s a try).
wait_for() {
  local i
  for ((i = 0; i < ${3:-200}; i++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# ---- what the item files (items, closed) share ----------------------------

ITEMS="$PROBES/attackitems"

setup() { attack_setup; }
teardown() { attack_teardown; }

# bg OUT CMD... : CMD in the background, output in OUT; its pid in LAST.
bg() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  LAST=$!
  PIDS+=("$LAST")
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# expect_attack BACKEND N WHAT : bare, N attacks must have got through (the
# control); under a backend, none.
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

# ---- cases run on both backends ---------------------------------------------

# item 8: an exclusive listener closed (HOW: close, dup2 onto it,
# close_range) while a connection it accepted lives
drain() {
  local p how=${2:-close}
  p=$(pol 'tcp *:* exclusive')
  hold_case bare "$p" nobody tcp v4lo drain PORT ra 20 "$how"
  hold_case "$1" "$p" nobody tcp v4lo drain PORT none 20 "$how"
}

# item 9: the implicit bind of a first sendto() on an unbound UDP socket
implicit() {
  local sink
  sink=$(free_port)
  hold_case bare "$NOHIJACK" nobody udp v4any sendto "$sink" 20
  hold_case "$1" "$NOHIJACK" nobody udp v4any sendto "$sink" 20
}

# item 11: a bind the program's own Landlock domain forbids
landlock_case() {
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
