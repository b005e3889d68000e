#!/usr/bin/env bats
# Issue 14, item by item: each attack first shown working where the kernel
# lets it (bare, the control), then refused (or the program unhurt) under
# the library and under `reuse run --seccomp`. Victims are
# tests/probes/attackitems.c; attackers tests/probes/attackmatrix.c, run
# without libreuse (every address, option and extra of the matrix against
# one victim). Item 16 is tested in tests/insight.bats; cases closed after
# the first round, in tests/attack/closed.bats.
# shellcheck disable=SC2153,SC2154  # common.bash sets the paths; bats sets $output

load common

# ---- 1. a bound socket met through a new fd ---------------------------------

# adopt_case BACKEND HOW : the victim meets a bound UDP socket on
# 127.0.0.1 (HOW scm, pidfd or inherit), sets SO_REUSEADDR=1 on it and holds it.
adopt_case() {
  local b=$1 how=$2 port n
  port=$(free_port)
  prefix "$b" "$NOHIJACK" "$T/log"
  case $how in
    scm)
      bg "$T/v.out" "${PRE[@]}" "$ITEMS" adopt scm "$T/u.sock" 20
      wait_for "$T/v.out" '^listening' || fail "$(cat "$T/v.out")"
      "$ITEMS" sendfd "$T/u.sock" udp 127.0.0.1 "$port" >"$T/send.out" ;;
    pidfd)
      bg "$T/h.out" "$ITEMS" hold udp 127.0.0.1 "$port" 20 none
      wait_for "$T/h.out" '^ready' || fail "$(cat "$T/h.out")"
      bg "$T/v.out" "${PRE[@]}" "$ITEMS" adopt pidfd "$LAST" "$(sed -n 's/.* fd=//p' "$T/h.out")" 20 ;;
    inherit)
      bg "$T/v.out" "$ITEMS" bindexec udp 127.0.0.1 "$port" "${PRE[@]}" "$ITEMS" adopt inherit FD 20 ;;
  esac
  wait_for "$T/v.out" '^ready' || fail "$b $how: $(cat "$T/v.out")"
  grep -q '^set=ok' "$T/v.out" || fail "$b $how: $(cat "$T/v.out")"
  n=$(strike nobody udp v4lo "$port")
  expect_attack "$b" "$n" "$how"
  if [[ $b != bare ]]; then
    grep -qE " adopt fd=[0-9]+ udp 127\.0\.0\.1:$port .*action=exclusive" "$T/log" ||
      fail "$b $how: no adopt line: $(cat "$T/log")"
  fi
  for p in "${PIDS[@]}"; do stop "$p"; done
  PIDS=()
  rm -f "$T/u.sock"
}

@test "1: a bound socket received with SCM_RIGHTS, taken with pidfd_getfd or inherited is decided at first sight (library, --seccomp)" {
  local b how
  for how in scm pidfd inherit; do
    for b in bare lib seccomp; do adopt_case "$b" "$how"; done
  done
}

# ---- 2. IPv6 address length 24-27 --------------------------------------------

@test "2: an IPv6 bind() of length 24-27 is decided: deny applies (library, --seccomp)" {
  local b len port p
  port=$(free_port)
  p=$(pol "udp [::1]:$port deny")
  for b in bare lib seccomp; do
    prefix "$b" "$p" "$T/log"
    for len in 24 25 26 27 28; do
      run "${PRE[@]}" "$ITEMS" v6len "$len" "$port"
      if [[ $b == bare ]]; then assert_output "bind=ok"; else assert_output "bind=EACCES"; fi
    done
    if [[ $b != bare ]]; then
      [[ $(grep -c "bind fd=[0-9]* udp \[::1\]:$port .*result=EACCES" "$T/log") == 5 ]] ||
        fail "$b: $(cat "$T/log")"
    fi
  done
}

# ---- 3. MPTCP ------------------------------------------------------------------

# (the keyed SO_REUSEPORT of an MPTCP listener: tests/attack/closed.bats)
@test "3: an MPTCP socket is decided as TCP and logged as mptcp: deny applies (library, --seccomp)" {
  [[ $(cat /proc/sys/net/mptcp/enabled 2>/dev/null) == 1 ]] || skip "the kernel has no MPTCP (net.mptcp.enabled)"
  local b port p
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port deny")
  for b in bare lib seccomp; do
    prefix "$b" "$p" "$T/log"
    run timeout 10 "${PRE[@]}" "$ITEMS" hold mptcp 127.0.0.1 "$port" 0 none
    if [[ $b == bare ]]; then assert_line bind=ok; else assert_line bind=EACCES; fi
    [[ $b == bare ]] || grep -qE "bind fd=[0-9]+ mptcp 127\.0\.0\.1:$port .*action=deny result=EACCES" "$T/log" ||
      fail "$b: $(cat "$T/log")"
  done
}

# ---- 4. socket activation --------------------------------------------------------

@test "4: a LISTEN_FDS socket adopted under exclusive gets the rule's options: SO_REUSEADDR off (library, --seccomp)" {
  command -v systemd-socket-activate >/dev/null || fail "systemd-socket-activate is not installed (scripts/setup)"
  local b port n
  for b in bare lib seccomp; do
    port=$(free_port)
    prefix "$b" "$NOHIJACK" "$T/log"
    bg "$T/v.out" systemd-socket-activate --datagram -l "127.0.0.1:$port" -- \
      "${PRE[@]}" "$ITEMS" hold udp 127.0.0.1 "$port" 20 ra
    wait_udp "$port" || fail "$b: $(cat "$T/v.out")"
    # a datagram starts the program (a .socket unit with Accept=no)
    echo x >"/dev/udp/127.0.0.1/$port"
    wait_for "$T/v.out" '^ready' || fail "$b: $(cat "$T/v.out")"
    n=$(strike nobody udp v4lo "$port")
    expect_attack "$b" "$n" activation
    # (--seccomp answers the probe's raw getsockopt too: the log tells there)
    [[ $b != lib ]] || grep -q '^kernel_ra=0' "$T/v.out" || fail "$b: $(cat "$T/v.out")"
    if [[ $b != bare ]]; then
      grep -qE "bind fd=[0-9]+ udp 127\.0\.0\.1:$port .*action=exclusive .*now=reuseaddr:off.*adopted the passed socket" "$T/log" ||
        fail "$b: $(cat "$T/log")"
    fi
    stop "$LAST"
  done
}

# ---- 5. --seccomp keys per owner -------------------------------------------------

@test "5: --seccomp keys a SO_REUSEPORT group per owner uid: uid 1000 and uid 2000 targets never share" {
  local port p u
  run grep -E 'reuse_key_of\(uint32_t owner\)' "$ROOT/include/libreuse.h"
  assert_success
  for u in 1000 2000; do
    port=$(free_port)
    p=$(pol "udp *:$port exclusive")
    bg "$T/a.out" "$REUSE" run --seccomp --policy "$p" --log "$T/log" -- \
      setpriv --reuid=1000 --regid=1000 --clear-groups "$ITEMS" hold udp 127.0.0.1 "$port" 20 rp
    wait_for "$T/a.out" '^ready' || fail "$(cat "$T/a.out")"
    run timeout 10 "$REUSE" run --seccomp --policy "$p" --log "$T/log" -- \
      setpriv --reuid="$u" --regid="$u" --clear-groups "$ITEMS" hold udp 127.0.0.1 "$port" 0 rp
    # the control: the same owner shares the keyed group; another owner does not
    if [[ $u == 1000 ]]; then assert_line bind=ok; else assert_line bind=EADDRINUSE; fi
    stop "$LAST"
  done
}

# ---- 10. bind() from a signal handler ----------------------------------------------

@test "10: bind() from a signal handler while the main thread binds under exclusive does not deadlock (library, --seccomp)" {
  local b p
  p=$(pol 'udp *:* exclusive')
  for b in bare lib seccomp; do
    prefix "$b" "$p" "$T/log"
    # under --seccomp a handler's bind costs two round trips to the
    # supervisor (tens of us) and a signal before the supervisor received
    # the main thread's call restarts it: a 100 us timer starves the main
    # loop there (no deadlock: the handler's binds go on). 1 ms tests the
    # same nesting.
    run timeout 20 "${PRE[@]}" "$ITEMS" sigbind 2 0 "$([[ $b == seccomp ]] && echo 1000 || echo 100)"
    assert_success
    assert_output --regexp '^binds=[1-9][0-9]* fails=0 handler_binds=[1-9][0-9]* handler_fails=0$'
  done
}

# ---- 12. --seccomp and page protections --------------------------------------------

@test "12: bind() with bytes 16-19 unmapped and getsockopt() into a read-only page fail EFAULT as bare (--seccomp, library)" {
  local b port p
  p=$(pol 'udp *:* exclusive')
  for b in bare lib seccomp; do
    port=$(free_port)
    prefix "$b" "$p" "$T/log"
    run timeout 10 "${PRE[@]}" "$ITEMS" efault "$port"
    assert_success
    assert_line bind20=EFAULT
    assert_line bind16=ok
    assert_line 'getsockopt_ro=EFAULT value=7'
  done
}

# ---- 13. a lend keeps a listener's own SO_REUSEADDR --------------------------------

@test "13: a lend on an exclusive TCP listener gives it back its own SO_REUSEADDR (library, --seccomp)" {
  local b port p
  p=$(pol 'tcp *:* exclusive')
  for b in bare lib seccomp; do
    port=$(free_port)
    prefix "$b" "$p" "$T/log"
    run timeout 10 "${PRE[@]}" "$ITEMS" lendtcp "$port"
    assert_success
    assert_line listener_ra_before=1
    assert_line listener_ra_after=1
  done
}

# ---- 14. memory bounded by live sockets ------------------------------------------

@test "14: 200,000 exclusive UDP bind/close cycles grow VmRSS by less than 1 MB (library)" {
  local b p
  p=$(pol 'udp *:* exclusive')
  for b in bare lib; do
    prefix "$b" "$p" "$T/log"
    # port 0: a fixed port, unbound between cycles, could be taken by any
    # other test on the machine meanwhile
    run timeout 60 "${PRE[@]}" "$ITEMS" cycles 200000 0
    assert_success
    echo "# 14 $b: $output" >&3
    [[ $output =~ fails=0\ rss_growth_kb=(-?[0-9]+) ]] || fail "$output"
    [[ ${BASH_REMATCH[1]} -lt 1024 ]] || fail "$b: $output"
  done
}

# ---- 15. own overlapping binds after dup2, and under RLIMIT_NOFILE 256 -----------

@test "15: the program's own overlapping bind works after dup2 moved its exclusive socket, and under RLIMIT_NOFILE 256 (library, --seccomp)" {
  local b port p lim
  p=$(pol 'udp *:* exclusive')
  for b in bare lib seccomp; do
    for lim in 1024 256; do
      port=$(free_port)
      prefix "$b" "$p" "$T/log"
      run timeout 10 "${PRE[@]}" prlimit --nofile="$lim:$lim" "$ITEMS" dup2own "$port"
      assert_success
      assert_line bind_first=ok
      assert_line dup2=ok
      assert_line bind_own=ok
      [[ $b == bare ]] || grep -q 'lent SO_REUSEPORT.*(keyed' "$T/log" || fail "$b $lim: $(cat "$T/log")"
    done
  done
}

# ---- 17. reuseport=force on UDP ------------------------------------------------

@test "17: reuseport=force on UDP: the keyed group drops SO_REUSEADDR; strangers (root, 65534, every option) are refused (library, --seccomp)" {
  local b port p who n
  for b in bare lib seccomp; do
    port=$(free_port)
    p=$(pol "udp *:$port reuseport=force")
    prefix "$b" "$p" "$T/log"
    bg "$T/a.out" "${PRE[@]}" "$ITEMS" hold udp 127.0.0.1 "$port" 20 ra
    wait_for "$T/a.out" '^ready' || fail "$b: $(cat "$T/a.out")"
    bg "$T/b.out" "${PRE[@]}" "$ITEMS" hold udp 127.0.0.1 "$port" 20 ra
    wait_for "$T/b.out" '^ready' || fail "$b: $(cat "$T/b.out")"
    grep -q '^bind=ok' "$T/b.out" || fail "$b: the second instance: $(cat "$T/b.out")"
    [[ $b != lib ]] || grep -q '^kernel_ra=0 kernel_rp=1' "$T/a.out" || fail "$b: $(cat "$T/a.out")"
    if [[ $b != bare ]]; then
      grep -qE "bind fd=[0-9]+ udp 127\.0\.0\.1:$port .*action=force result=ok now=reuseaddr:off,reuseport:on -- SO_REUSEPORT forced, keyed" "$T/log" ||
        fail "$b: $(cat "$T/log")"
    fi
    for who in root nobody; do
      n=$(strike "$who" udp v4lo "$port")
      expect_attack "$b" "$n" "$who"
    done
    stop "${PIDS[-1]}"
    stop "${PIDS[-2]}"
  done
}

# ---- 18. --seccomp and an interval timer -----------------------------------------

@test "18: 3,000 binds under a 100 us interval timer: none fails with SA_RESTART, none EINVAL without (--seccomp)" {
  local b p
  p=$(pol 'udp *:* exclusive')
  for b in bare seccomp; do
    prefix "$b" "$p" "$T/log"
    # port 0: see 14
    run timeout 60 "${PRE[@]}" "$ITEMS" timerbind 3000 100 restart 0
    assert_success
    echo "# 18 $b SA_RESTART: $output" >&3
    assert_output --regexp '^binds=3000 fails=0 '
    run timeout 60 "${PRE[@]}" "$ITEMS" timerbind 3000 100 norestart 0
    assert_success
    echo "# 18 $b no SA_RESTART: $output" >&3
    assert_output --regexp ' einval=0 eintr=[0-9]+ other=0$'
  done
}

# ---- 6. --seccomp forgets a socket whose binding thread exited --------------

forget_case() {
  hold_case bare "$NOHIJACK" nobody udp v4lo forget PORT 3000 20
  hold_case "$1" "$NOHIJACK" nobody udp v4lo forget PORT 3000 20
  grep -q '^set=ok' "$T/v.out" || fail "$1: $(cat "$T/v.out")"
}
@test "6 library: a socket bound by a thread that exited is still decided after 3,000 further binds" { forget_case lib; }
@test "6 --seccomp: a socket bound by a thread that exited is still decided after 3,000 further binds" { forget_case seccomp; }

# ---- 20. records per fd after dup() -----------------------------------------------

dupopt_case() {
  local b port
  for b in bare "$1"; do
    port=$(free_port)
    prefix "$b" "$ROOT/policy/default.policy" "$T/log"
    run timeout 10 "${PRE[@]}" "$ITEMS" dupopt "$port"
    assert_line --regexp '^orig_seen_ra=1 orig_seen_rp=1 '
  done
}
@test "20 library: an option set through a dup() is seen through the original fd, as bare" { dupopt_case lib; }
@test "20 --seccomp: an option set through a dup() is seen through the original fd, as bare" { dupopt_case seccomp; }

# ---- 11. Landlock ---------------------------------------------------------------------
# --seccomp stops landlock_restrict_self(); from then on every call continues
# in the target, inside its domain (src/cli/seccomp_target.c).

@test "11 library: a bind the program's own Landlock domain forbids is refused as bare" { landlock_case lib; }
@test "11 --seccomp: a bind the program's own Landlock domain forbids is refused as bare" { landlock_case seccomp; }

# ---- 9. the implicit bind of sendto() ---------------------------------------------
# (the library: tests/attack/closed.bats.) --seccomp does not stop sends: an
# unbound UDP socket's SO_REUSEADDR/SO_REUSEPORT is held in its record until
# its bind is decided (core/engine.c, eng_hold), so the kernel's implicit bind
# at the first send leaves neither on the port.

@test "9 --seccomp: sendto() on an unbound UDP socket: uid 65534 cannot take the reply port" { implicit seccomp; }

# ---- 8. a listener closed while a connection drains ---------------------------------
# (the library: tests/attack/closed.bats.) Under a policy with a TCP exclusive
# rule the filter stops close(), close_range(), dup2() and dup3(); the
# supervisor takes SO_REUSEADDR from the listener's connections before it
# closes (core/engine_drain.c), and gives it back at theirs.

@test "8 --seccomp: an exclusive TCP listener closed while a connection drains: uid 65534 cannot bind over it" { drain seccomp; }
@test "8 library: an exclusive TCP listener closed by dup2() or close_range() while a connection drains: uid 65534 cannot bind over it" {
  drain lib dup2
  drain lib close_range
}
@test "8 --seccomp: an exclusive TCP listener closed by dup2() or close_range() while a connection drains: uid 65534 cannot bind over it" {
  drain seccomp dup2
  drain seccomp close_range
}
