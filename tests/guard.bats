#!/usr/bin/env bats
# reuse guard: the policy enforced by cgroup BPF programs, for every process
# of a cgroup whatever its binary. Each test makes its own cgroup under the
# cgroup v2 mount, starts the guard on it (or on the whole host), runs
# programs inside it, and always tears both down. The control comes first:
# without the guard (or under LD_PRELOAD, which static busybox, the Go
# server and io_uring never meet) the bind works; then the guard refuses it
# and the log says so, in the library's format with backend=guard.
# shellcheck disable=SC2153,SC2154  # helpers.bash sets REUSE/PROBES; bats sets $output

load helpers
bats_require_minimum_version 1.5.0

BUSYBOX=/bin/busybox

setup_file() {
  D=$(mktemp -d /tmp/libreuse-guard.XXXXXX)
  chmod 755 "$D"
  export D
  build_goserver "$D"
}

teardown_file() {
  if [[ -n ${D:-} && -d $D ]]; then rm -rf "$D"; fi
}

setup() {
  unset REUSE_POLICY REUSE_LOG REUSE_LOG_FORMAT REUSE_LOG_LEVEL LD_PRELOAD
  W=$(mktemp -d /tmp/libreuse-guard-t.XXXXXX)
  chmod 755 "$W"
  GLOG=$W/guard.log
  CG=$CGROOT/libreuse-guard-$$-$BATS_TEST_NUMBER-$RANDOM
  GUARD=
  HOSTWIDE=
  PIDS=()
  NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  # "${INCG[@]}" CMD... : CMD in the test's cgroup (the shell joins it, then execs)
  # shellcheck disable=SC2016  # $$ and $0 are the inner shell's
  INCG=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG")
  [[ -n $CGROOT && -d $CGROOT ]] || skip "no cgroup v2 mount"
}

teardown() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  stop_guard
  # a host-wide program left behind would govern the rest of the suite
  if [[ -n $HOSTWIDE ]]; then "$REUSE" guard --remove --host >/dev/null 2>&1 || true; fi
  if [[ -d $CG ]]; then
    # anything still in the cgroup goes back to the root one first
    while read -r p; do echo "$p" >"$CGROOT/cgroup.procs" 2>/dev/null || true; done <"$CG/cgroup.procs"
    rmdir "$CG" 2>/dev/null || true
  fi
  if [[ -n ${W:-} && -d $W ]]; then rm -rf "$W"; fi
}

# pol LINE... : a policy file (readable by nobody); prints its path.
pol() {
  printf '%s\n' "$@" >"$W/policy"
  chmod 644 "$W/policy"
  echo "$W/policy"
}

# start_guard ARG... : reuse guard in the background, logging to $GLOG;
# returns once its log says `guard ready` (at most 10 s).
start_guard() {
  local i
  : >"$GLOG"
  "$REUSE" guard --log "$GLOG" "$@" 2>"$W/guard.err" &
  GUARD=$!
  for ((i = 0; i < 200; i++)); do
    grep -q 'guard ready' "$GLOG" && return 0
    kill -0 "$GUARD" 2>/dev/null || break
    sleep 0.05
  done
  cat "$W/guard.err" >&2
  return 1
}

# stop_guard : SIGTERM, and its exit status in GUARD_RC.
stop_guard() {
  GUARD_RC=
  [[ -n $GUARD ]] || return 0
  kill "$GUARD" 2>/dev/null || true
  wait "$GUARD" 2>/dev/null
  GUARD_RC=$?
  GUARD=
}


# bg OUTFILE CMD... : CMD in the background (bounded), remembered in PIDS/LAST.
bg() {
  local out=$1; shift
  timeout 30 "$@" >"$out" 2>&1 &
  LAST=$!
  PIDS+=("$LAST")
}

@test "guard: without root it refuses, saying why (exit 2)" {
  run "${NOBODY[@]}" "$REUSE" guard --cgroup "$CGROOT" --policy /dev/null
  assert_equal "$status" 2
  assert_output --partial "needs root (CAP_BPF and CAP_NET_ADMIN)"
  assert_output --partial "uid 65534"
}

@test "guard: without a cgroup v2 hierarchy it refuses, saying why (exit 2)" {
  # a mount namespace of its own, where the cgroup v2 mount is gone
  run unshare -m sh -c 'umount "$1" && exec "$0" guard --host --policy /dev/null' "$REUSE" "$CGROOT"
  assert_equal "$status" 2
  assert_output --partial "no cgroup v2 hierarchy is mounted"
}

@test "guard: usage errors and a target that is no cgroup v2 directory" {
  run "$REUSE" guard --policy /dev/null
  assert_equal "$status" 2
  assert_output --partial "say exactly one of --cgroup PATH, --host"
  run "$REUSE" guard --cgroup "$W" --policy /dev/null
  assert_equal "$status" 2
  assert_output --partial "$W is not a directory of the cgroup v2 hierarchy"
  run "$REUSE" guard --list --host
  assert_equal "$status" 2
}

@test "check --guard: a rule the kernel cannot honour is a warning; the guard refuses it unless --force" {
  local p
  mkdir "$CG"
  p=$(pol "tcp 127.0.0.1:8080 reuseport=force handoff" \
          "udp *:53 program=[[:alpha:]]* exclusive" \
          "udp *:5353 program=dnsmasq reserve")
  run "$REUSE" check --guard "$p"
  assert_success
  assert_line "$p:1:36: warning: handoff is not enforced by reuse guard (the kernel does not pass sockets between processes); the rule's other directives are"
  assert_line --regexp "^$p:2:10: warning: program= uses a character class"
  refute_output --partial "reserve is enforced only"
  # without --guard: the library's view, where only reserve is not enforced
  run "$REUSE" check "$p"
  assert_success
  assert_line "$p:3:28: warning: reserve is enforced only by reuse guard; the library and --seccomp apply the rule's other directives"
  refute_output --partial "handoff is not"
  # the library and --seccomp accept it, and say once that they do not enforce it
  run env LD_PRELOAD="$LIB" REUSE_POLICY="$p" "$PROBES/bindprobe" -u 127.0.0.1 "$(free_port)"
  assert_line --regexp "^libreuse\[[0-9]+\]: [-0-9T:.]+Z bindprobe init rule=- result=ok -- policy $p:3: reserve is enforced only by reuse guard; here the rule's other directives apply$"
  run env REUSE_POLICY="$p" "$REUSE" run --seccomp -- "$PROBES/bindprobe" -u 127.0.0.1 "$(free_port)"
  assert_line --regexp "reuse init rule=- result=ok -- policy $p:3: reserve is enforced only by reuse guard"

  run "$REUSE" guard --cgroup "$CG" --policy "$p" --log "$GLOG"
  assert_equal "$status" 2
  assert_output --partial "2 rules cannot be honoured in the kernel (above); --force starts anyway, without what they say is not enforced"
  start_guard --cgroup "$CG" --policy "$p" --force
  run cat "$GLOG"
  assert_line --regexp "guard ready: policy $p, 3 rules \(2 entries\), cgroup $CG$"
}

# bats test_tags=quick
@test "busybox nc -l (static): deny refuses the bind with EACCES and logs it; LD_PRELOAD does not reach it (control)" {
  local port p
  port=$(free_port)
  p=$(pol "tcp *:$port deny")
  mkdir "$CG"
  # control: the library is preloaded, but busybox is static: it listens
  bg "$W/nc.out" env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG="$W/lib.log" "$BUSYBOX" nc -l -p "$port"
  wait_listen "$port"
  kill "$LAST"
  [[ ! -s $W/lib.log ]]

  start_guard --cgroup "$CG" --policy "$p"
  run timeout 10 "${INCG[@]}" "$BUSYBOX" nc -l -p "$port"
  assert_failure
  assert_output --partial "Permission denied"
  stop_guard
  assert_equal "$GUARD_RC" 0
  run cat "$GLOG"
  assert_line --index 0 --regexp "^libreuse\[[0-9]+\]: [-0-9T:.]+Z reuse init rule=- result=ok backend=guard -- guard ready: policy $p, 1 rule \(1 entries\), cgroup $CG$"
  assert_line --index 1 --regexp "^libreuse\[[0-9]+\]: [-0-9T:.]+Z busybox bind tcp \[::\]:$port rule=$p:1 option=SO_REUSEADDR,SO_REUSEPORT asked=on,off action=deny result=EACCES now=reuseaddr:on,reuseport:off backend=guard$"
  assert_line --index 2 --partial "guard stopped: detached from cgroup $CG"
  # detached: the same bind works again
  bg "$W/nc2.out" "${INCG[@]}" "$BUSYBOX" nc -l -p "$port"
  wait_listen "$port"
}

@test "Go server (static, own syscalls): deny refuses the bind, JSON log; LD_PRELOAD does not reach it (control)" {
  local port p
  [[ -x $D/goserver ]] || { cat "$D/gobuild.log" >&2; false; }
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port deny")
  mkdir "$CG"
  bg "$W/go.out" env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG="$W/lib.log" "$D/goserver" "127.0.0.1:$port"
  wait_listen "$port"
  kill "$LAST"
  [[ ! -s $W/lib.log ]]

  start_guard --cgroup "$CG" --policy "$p" --json
  run timeout 10 "${INCG[@]}" "$D/goserver" "127.0.0.1:$port"
  assert_failure
  assert_output --partial "bind: permission denied"
  stop_guard
  run jq -c 'select(.call == "bind") | [.prog, .call, .proto, .addr, .port, .rule, .action, .result, .errno, .backend]' "$GLOG"
  assert_output "[\"goserver\",\"bind\",\"tcp\",\"127.0.0.1\",$port,\"$p:1\",\"deny\",\"EACCES\",13,\"guard\"]"
  run jq -r 'select(.call == "init") | .backend + " " + .msg' "$GLOG"
  assert_line --index 0 "guard guard ready: policy $p, 1 rule (1 entries), cgroup $CG"
}

@test "io_uring IORING_OP_BIND: deny refuses it under the guard; LD_PRELOAD never sees it (control)" {
  local port p
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port deny")
  mkdir "$CG"
  # control: the bind passes the library by (it only meets the later listen())
  run env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG="$W/lib.log" "$PROBES/uringbind" 127.0.0.1 "$port"
  assert_success
  assert_output --regexp "^bind=ok "
  refute_output --partial "bind=EACCES"

  start_guard --cgroup "$CG" --policy "$p"
  run "${INCG[@]}" "$PROBES/uringbind" 127.0.0.1 "$port"
  assert_success
  assert_output "bind=EACCES"
  stop_guard
  run cat "$GLOG"
  assert_line --regexp "uringbind bind tcp 127.0.0.1:$port rule=$p:1 .*action=deny result=EACCES .*backend=guard$"
}

@test "outside the guarded cgroup nothing changes; dry-run logs and lets the bind through" {
  local port p
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port deny dry-run")
  mkdir "$CG"
  start_guard --cgroup "$CG" --policy "$p"
  run "${INCG[@]}" "$PROBES/bindprobe" 127.0.0.1 "$port"
  assert_output --regexp "^bind=ok "
  printf 'tcp 127.0.0.1 %s\n' "$port" >"$W/case"
  run "$PROBES/bindprobe" 127.0.0.1 "$port"
  assert_output --regexp "^bind=ok "
  stop_guard
  run cat "$GLOG"
  assert_line --regexp "bindprobe bind tcp 127.0.0.1:$port rule=$p:1 .*action=deny dry-run result=EACCES .*backend=guard$"
  [[ $(grep -c ' bind ' "$GLOG") -eq 1 ]]      # the process outside: no line
}

@test "force and strip at bind (bpf_setsockopt), held after bind; getsockopt answers what was asked; log=off" {
  local p1 p2 p3 p
  p1=$(free_port)
  p2=$(free_port)
  p3=$(free_port)
  p=$(pol "tcp 127.0.0.1:$p1 reuseaddr=force" "tcp 127.0.0.1:$p2 reuseaddr=strip" "tcp 127.0.0.1:$p3 reuseaddr=force log=off")
  mkdir "$CG"
  # control: without the guard the kernel holds what the program set
  run "${INCG[@]}" "$PROBES/bindprobe" 127.0.0.1 "$p1"
  assert_output --regexp "^bind=ok seen_ra=0 .*kernel_ra=0"

  start_guard --cgroup "$CG" --policy "$p"
  run "${INCG[@]}" "$PROBES/bindprobe" 127.0.0.1 "$p1"
  assert_output --regexp "^bind=ok seen_ra=0 "
  run "${INCG[@]}" "$PROBES/bindprobe" -r -R 127.0.0.1 "$p2"
  assert_output --regexp "^bind=ok set_after=ok seen_ra=1 "
  run "${INCG[@]}" "$PROBES/bindprobe" 127.0.0.1 "$p3"
  assert_output --regexp "^bind=ok "
  stop_guard
  [[ $(grep -c ":$p3 " "$GLOG") -eq 0 ]]            # log=off: no line
  run cat "$GLOG"
  assert_line --regexp "bindprobe bind tcp 127.0.0.1:$p1 rule=$p:1 option=SO_REUSEADDR asked=off action=force result=ok now=reuseaddr:on,reuseport:off backend=guard$"
  assert_line --regexp "bindprobe bind tcp 127.0.0.1:$p2 rule=$p:2 option=SO_REUSEADDR asked=on action=strip result=ok now=reuseaddr:off,reuseport:off backend=guard$"
  assert_line --regexp "bindprobe setsockopt tcp 127.0.0.1:$p2 rule=$p:2 option=SO_REUSEADDR asked=on action=strip result=ok backend=guard -- held by the rule: success without reaching the kernel$"
}

@test "force has its effect: a second UDP socket binds beside the first only under the guard" {
  local port p
  port=$(free_port)
  p=$(pol "udp 127.0.0.1:$port reuseaddr=force")
  mkdir "$CG"
  bg "$W/first.out" "${INCG[@]}" "$PROBES/bindprobe" -u -h 5 127.0.0.1 "$port"
  wait_udp "$port"
  run "${INCG[@]}" "$PROBES/bindprobe" -u 127.0.0.1 "$port"
  assert_output --regexp "^bind=EADDRINUSE "         # control
  kill "$LAST"; wait "$LAST" || true

  start_guard --cgroup "$CG" --policy "$p"
  bg "$W/first.out" "${INCG[@]}" "$PROBES/bindprobe" -u -h 5 127.0.0.1 "$port"
  wait_udp "$port"
  run "${INCG[@]}" "$PROBES/bindprobe" -u 127.0.0.1 "$port"
  assert_output --regexp "^bind=ok "
}

@test "refuse: EPERM at bind when the option was set, and after bind (cgroup/setsockopt)" {
  local p1 p2 p
  p1=$(free_port)
  p2=$(free_port)
  p=$(pol "tcp 127.0.0.1:$p1 reuseaddr=refuse" "tcp 127.0.0.1:$p2 reuseport=refuse")
  mkdir "$CG"
  run "${INCG[@]}" "$PROBES/bindprobe" -r 127.0.0.1 "$p1"
  assert_output --regexp "^bind=ok "                  # control
  start_guard --cgroup "$CG" --policy "$p"
  run "${INCG[@]}" "$PROBES/bindprobe" -r 127.0.0.1 "$p1"
  assert_output --regexp "^bind=EPERM "
  run "${INCG[@]}" "$PROBES/bindprobe" -P 127.0.0.1 "$p2"
  assert_output --regexp "^bind=ok set_after=EPERM seen_ra=0 seen_rp=0 "
  stop_guard
  run cat "$GLOG"
  assert_line --regexp "bindprobe bind tcp 127.0.0.1:$p1 rule=$p:1 option=SO_REUSEADDR asked=on action=refuse result=EPERM .*backend=guard$"
  assert_line --regexp "bindprobe setsockopt tcp 127.0.0.1:$p2 rule=$p:2 option=SO_REUSEPORT asked=on action=refuse result=EPERM backend=guard -- refused after bind\(\)$"
}

@test "exclusive: another uid outside the cgroup cannot bind beside a UDP daemon that set SO_REUSEADDR" {
  local port p
  port=$(free_port)
  p=$(pol "udp 127.0.0.1:$port exclusive")
  mkdir "$CG"
  # control: the daemon sets SO_REUSEADDR; nobody binds beside it with it too
  bg "$W/d.out" "${INCG[@]}" "$PROBES/bindprobe" -u -r -h 5 127.0.0.1 "$port"
  wait_udp "$port"
  run "${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" ra
  assert_line --index 0 "bind=ok"
  kill "$LAST"; wait "$LAST" || true

  start_guard --cgroup "$CG" --policy "$p"
  bg "$W/d.out" "${INCG[@]}" "$PROBES/bindprobe" -u -r -h 5 127.0.0.1 "$port"
  wait_udp "$port"
  for f in none ra rp rarp; do
    run "${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" "$f"
    assert_output "bind=EADDRINUSE"
  done
  run cat "$W/d.out"
  assert_output --regexp "^bind=ok seen_ra=1 "       # it sees what it asked for
  run cat "$GLOG"
  assert_line --regexp "bindprobe bind udp 127.0.0.1:$port rule=$p:1 option=SO_REUSEADDR,SO_REUSEPORT asked=on,off action=exclusive result=ok now=reuseaddr:off,reuseport:off backend=guard$"
}

@test "exclusive (post_bind): a same-uid process cannot join a TCP daemon's SO_REUSEPORT group; it can once the daemon is gone" {
  local port p
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port exclusive")
  mkdir "$CG"
  # control: the daemon keeps SO_REUSEPORT (as the library keeps it, unkeyed): root joins
  bg "$W/d.out" "${INCG[@]}" "$PROBES/bindprobe" -p -l -h 5 127.0.0.1 "$port"
  wait_listen "$port"
  run "${INCG[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$port"
  assert_output --regexp "^bind=ok listen=ok "
  kill "$LAST"; wait "$LAST" || true

  start_guard --cgroup "$CG" --policy "$p"
  bg "$W/d.out" "${INCG[@]}" "$PROBES/bindprobe" -p -l -h 5 127.0.0.1 "$port"
  wait_listen "$port"
  local daemon=$LAST
  run "${INCG[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$port"
  assert_output --regexp "^bind=EADDRINUSE "
  run "${INCG[@]}" "$PROBES/bindprobe" -p -l 0.0.0.0 "$port"
  assert_output --regexp "^bind=EADDRINUSE "
  kill "$daemon"; wait "$daemon" || true
  run "${INCG[@]}" "$PROBES/bindprobe" -p -l 127.0.0.1 "$port"
  assert_output --regexp "^bind=ok listen=ok "      # the owner closed: forgotten
  stop_guard
  run cat "$GLOG"
  assert_line --regexp "bindprobe bind tcp 127.0.0.1:$port rule=$p:1 option=SO_REUSEADDR,SO_REUSEPORT asked=off,on action=exclusive result=EADDRINUSE now=reuseaddr:off,reuseport:on backend=guard -- pid [0-9]+ holds the address exclusively \(its rule $p:1\)$"
  assert_line --regexp "bindprobe bind tcp 0.0.0.0:$port rule=$p:1 .*action=exclusive result=EADDRINUSE .* -- pid [0-9]+ holds the address exclusively"
}

@test "reserve (--host): dnsmasq's port is refused to another uid with any options, before and after dnsmasq starts; dig is answered" {
  local port p f h out
  command -v dnsmasq >/dev/null || skip "dnsmasq not installed"
  port=$(free_port)
  # program= is the name a process gives itself: uid=0 makes it hold
  p=$(pol "udp 127.0.0.1:$port program=dnsmasq uid=0 reserve" "tcp 127.0.0.1:$port program=dnsmasq uid=0 reserve")
  cp "$ROOT/tests/daemons/attacker.py" "$W/dnsmasq"      # an attacker named dnsmasq
  # control: with nothing guarding, an attacker takes the port first
  run "${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" ra
  assert_line --index 0 "bind=ok"

  HOSTWIDE=1
  start_guard --host --policy "$p"
  for h in 127.0.0.1 0.0.0.0 :: ::ffff:127.0.0.1; do
    for f in none ra rp rarp; do
      out=$("${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp "$h" "$port" "$f")
      [[ $out == bind=EADDRINUSE ]] || fail "before dnsmasq: $h $f: $out"
    done
  done
  dnsmasq -k --no-resolv --no-hosts -p "$port" -u root --pid-file= --bind-interfaces \
    --listen-address=127.0.0.1 --address=/libreuse.test/192.0.2.7 2>"$W/dnsmasq.err" &
  PIDS+=("$!")
  wait_udp "$port" || fail "dnsmasq did not bind: $(cat "$W/dnsmasq.err")"
  for h in 127.0.0.1 0.0.0.0; do
    for f in none ra rp rarp; do
      out=$("${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" udp "$h" "$port" "$f")
      [[ $out == bind=EADDRINUSE ]] || fail "after dnsmasq: udp $h $f: $out"
      out=$("${NOBODY[@]}" "$ROOT/tests/daemons/attacker.py" tcp "$h" "$port" "$f" | head -1)
      [[ $out == bind=EADDRINUSE ]] || fail "after dnsmasq: tcp $h $f: $out"
    done
  done
  # root is refused too (not dnsmasq), and so is uid 65534 calling itself dnsmasq
  out=$("$ROOT/tests/daemons/attacker.py" udp 127.0.0.1 "$port" rarp)
  [[ $out == bind=EADDRINUSE ]] || fail "root attacker: $out"
  out=$("${NOBODY[@]}" "$W/dnsmasq" udp 127.0.0.1 "$port" rarp)
  [[ $out == bind=EADDRINUSE ]] || fail "nobody named dnsmasq: $out"
  run dig @127.0.0.1 -p "$port" libreuse.test A +short +time=2 +tries=2
  assert_output "192.0.2.7"
  stop_guard
  HOSTWIDE=
  run cat "$GLOG"
  assert_line --regexp "attacker.py bind udp 127.0.0.1:$port rule=$p:1 option=SO_REUSEADDR,SO_REUSEPORT asked=on,on action=reserve result=EADDRINUSE .*backend=guard -- the address is reserved for program=dnsmasq uid=0 by $p:1; refused uid 65534$"
  assert_line --regexp "attacker.py bind tcp 0.0.0.0:$port rule=$p:2 .*action=reserve result=EADDRINUSE"
  assert_line --regexp "dnsmasq bind udp 127.0.0.1:$port rule=$p:1 .*action=reserve result=EADDRINUSE .*refused uid 65534$"
  assert_line --regexp "dnsmasq bind udp 127.0.0.1:$port rule=$p:1 option=SO_REUSEADDR,SO_REUSEPORT asked=.* action=reserve result=ok .*backend=guard$"
  # detached: the host is as it was
  run "$REUSE" guard --list
  refute_output --partial "/host "
}

@test "under both the library and the guard: the same decisions, each logged by its own backend" {
  local p1 p2 p
  p1=$(free_port)
  p2=$(free_port)
  p=$(pol "tcp 127.0.0.1:$p1 reuseaddr=force" "tcp 127.0.0.1:$p2 deny")
  mkdir "$CG"
  start_guard --cgroup "$CG" --policy "$p"
  run "${INCG[@]}" env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG="$W/lib.log" "$PROBES/bindprobe" 127.0.0.1 "$p1"
  assert_output --regexp "^bind=ok seen_ra=0 "
  run "${INCG[@]}" env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG="$W/lib.log" "$PROBES/bindprobe" 127.0.0.1 "$p2"
  assert_output --regexp "^bind=EACCES "
  stop_guard
  run cat "$W/lib.log"
  assert_line --regexp "bindprobe bind fd=[0-9]+ tcp 127.0.0.1:$p1 rule=$p:1 option=SO_REUSEADDR asked=off action=force result=ok now=reuseaddr:on,reuseport:off$"
  assert_line --regexp "bindprobe bind fd=[0-9]+ tcp 127.0.0.1:$p2 rule=$p:2 .*action=deny result=EACCES"
  # the library refused the denied bind itself: the guard never saw it
  run cat "$GLOG"
  assert_line --regexp "bindprobe bind tcp 127.0.0.1:$p1 rule=$p:1 option=SO_REUSEADDR asked=on action=force result=ok now=reuseaddr:on,reuseport:off backend=guard$"
  refute_output --partial ":$p2 "
}

@test "--pin attaches and exits; --list shows it; --remove detaches it" {
  local port p
  port=$(free_port)
  p=$(pol "tcp 127.0.0.1:$port deny")
  mkdir "$CG"
  run "$REUSE" guard --pin --cgroup "$CG" --policy "$p" --log "$GLOG"
  assert_success
  run cat "$GLOG"
  assert_output --regexp "guard ready: policy $p, 1 rule \(1 entries\), cgroup $CG, pinned at /sys/fs/bpf/libreuse/cg-[0-9]+$"
  run "${INCG[@]}" "$PROBES/bindprobe" 127.0.0.1 "$port"
  assert_output --regexp "^bind=EACCES "
  run "$REUSE" guard --list
  assert_output --regexp "/sys/fs/bpf/libreuse/cg-[0-9]+ cgroup=$CG entries=1"
  run "$REUSE" guard --pin --cgroup "$CG" --policy "$p" --log "$GLOG"
  assert_equal "$status" 2
  assert_output --partial "a guard is pinned there: reuse guard --remove first"
  run "$REUSE" guard --remove --cgroup "$CG"
  assert_success
  run "$REUSE" guard --list
  refute_output --partial "cgroup=$CG "
  run "${INCG[@]}" "$PROBES/bindprobe" 127.0.0.1 "$port"
  assert_output --regexp "^bind=ok "
}

# The guard's matcher against the library's (src/core/policy_match.c): a
# generated policy of deny and keep rules (hosts with prefixes, port
# ranges, both protocols, program= globs, IPv6 and v4-mapped addresses),
# the same generated binds under both: every answer must agree.
@test "differential: the guard decides as the library's matcher on generated rules and binds" {
  local base seed i lines=() cases=() a n pfx k nets
  seed=${GUARD_DIFF_SEED:-$RANDOM}
  RANDOM=$seed
  base=$(free_port)
  ((base > 29900)) && base=29000
  local globs=("python3" "python*" "py?hon3" "[pq]ython3" "*3" "nc" "dnsmasq" "*")
  for ((i = 0; i < 40; i++)); do
    k=$((RANDOM % 6))
    case $k in
      0) a="*" ;;
      1) nets=(127.0.0.0/8 127.0.0.0/16 127.0.1.0/24 127.0.0.0/30 127.1.0.0/16 127.0.0.0/31 127.2.0.0/15 127.0.0.0/23)
         a=${nets[RANDOM % ${#nets[@]}]} ;;
      2) a="127.0.$((RANDOM % 2)).$((RANDOM % 4))" ;;
      3) a="[::1]" ;;
      4) a="[::]/0" ;;
      5) a="0.0.0.0" ;;
    esac
    n=$((RANDOM % 3))
    case $n in
      0) pfx="$a:$((base + RANDOM % 16))" ;;
      1) pfx="$a:$((base + RANDOM % 8))-$((base + 8 + RANDOM % 8))" ;;
      2) pfx="$a:$((base + RANDOM % 4)),$((base + 10 + RANDOM % 6))" ;;
    esac
    [[ $a == "*" ]] && pfx="*:${pfx#*:}"
    local proto=(tcp udp any)
    local line="${proto[RANDOM % 3]} $pfx"
    ((RANDOM % 3 == 0)) && line+=" program=${globs[RANDOM % ${#globs[@]}]}"
    ((RANDOM % 4 == 0)) && line+=" uid=$((RANDOM % 2 ? 0 : 65534))"
    if ((RANDOM % 2)); then line+=" deny"; else line+=" reuseaddr=keep"; fi
    lines+=("$line")
  done
  local p
  p=$(pol "${lines[@]}")
  local hosts=(127.0.0.1 127.0.0.2 127.0.1.3 127.1.0.1 127.2.5.5 0.0.0.0 ::1 :: ::ffff:127.0.0.1 ::ffff:127.0.1.2)
  for ((i = 0; i < 300; i++)); do
    cases+=("$((RANDOM % 2 ? 1 : 0))")
    cases[i]="$([[ ${cases[i]} == 1 ]] && echo tcp || echo udp) ${hosts[RANDOM % ${#hosts[@]}]} $((base + RANDOM % 16))"
  done
  printf '%s\n' "${cases[@]}" >"$W/cases"
  mkdir "$CG"
  env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG=off python3 "$ROOT/tests/daemons/bindmany.py" <"$W/cases" >"$W/lib.out"
  start_guard --cgroup "$CG" --policy "$p" --log "$GLOG"
  "${INCG[@]}" python3 "$ROOT/tests/daemons/bindmany.py" <"$W/cases" >"$W/guard.out"
  stop_guard
  [[ $(wc -l <"$W/guard.out") -eq 300 ]]
  [[ $(grep -c EACCES "$W/lib.out") -gt 0 ]] || fail "seed $seed: no case was denied: a weak draw"
  # EACCES is the policy's (deny); anything else is the kernel's, and a port
  # another test took meanwhile must not count as a disagreement
  sed -i '/^EACCES$/!s/.*/passed/' "$W/lib.out" "$W/guard.out"
  if ! diff <(paste -d' ' "$W/cases" "$W/lib.out") <(paste -d' ' "$W/cases" "$W/guard.out") >"$W/diff"; then
    cat "$p" >&2
    fail "seed $seed: library and guard disagree: $(cat "$W/diff")"
  fi
}

# The directive matrix against the library: every directive x what the
# program asked (nothing, SO_REUSEADDR, SO_REUSEPORT, both) x TCP/UDP, each
# case on its own port of one policy; bindprobe under the library, then in
# the guarded cgroup. The bind's result, what getsockopt shows the program
# and the log's option/asked/action/result words must be the same.
@test "directive matrix: the guard decides every directive as the library does (result, getsockopt, log words)" {
  local dirs=("reuseaddr=force" "reuseaddr=strip" "reuseaddr=refuse" "reuseaddr=keep"
              "reuseport=force" "reuseport=strip" "reuseport=refuse" "deny" "exclusive")
  local asks=("" "-r" "-p" "-r -p") lines=() cases=() port d a proto i=0 p
  port=$(free_port)
  ((port > 29800)) && port=29000
  for proto in tcp udp; do
    for d in "${dirs[@]}"; do
      for a in "${asks[@]}"; do
        lines+=("$proto 127.0.0.1:$((port + i)) $d")
        cases+=("$proto|$((port + i))|$a")
        i=$((i + 1))
      done
    done
  done
  p=$(pol "${lines[@]}")
  mkdir "$CG"
  # one run of every case: "PORT result seen_ra seen_rp"
  each() {
    local c proto prt a out u
    for c in "${cases[@]}"; do
      IFS='|' read -r proto prt a <<<"$c"
      u=
      [[ $proto == udp ]] && u=-u
      # shellcheck disable=SC2086  # $u and $a are lists of flags
      out=$("$@" "$PROBES/bindprobe" $u $a 127.0.0.1 "$prt") || true
      [[ $out =~ ^bind=([A-Z a-z]+)\ .*seen_ra=(-?[0-9])\ seen_rp=(-?[0-9]) ]] || { echo "$prt ?? $out"; continue; }
      echo "$prt ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
    done
  }
  each env LD_PRELOAD="$LIB" REUSE_POLICY="$p" REUSE_LOG="$W/lib.log" >"$W/lib.out"
  start_guard --cgroup "$CG" --policy "$p"
  each "${INCG[@]}" >"$W/guard.out"
  stop_guard
  [[ $(wc -l <"$W/lib.out") -eq ${#cases[@]} ]]
  # the log words, per port
  words() { sed -nE 's/.* bind (fd=[0-9]+ )?(tcp|udp) 127\.0\.0\.1:([0-9]+) rule=[^ ]+ (option=[^ ]+ asked=[^ ]+ action=[^ ]+ result=[^ ]+).*/\3 \4/p' "$1" | sort -n; }
  words "$W/lib.log" >"$W/lib.words"
  words "$GLOG" >"$W/guard.words"
  [[ $(wc -l <"$W/lib.words") -eq ${#cases[@]} ]] || fail "library log: $(head -3 "$W/lib.log")"
  # the cases differ among themselves: refusals of both kinds, views of both values
  grep -q ' EPERM ' "$W/lib.out" && grep -q ' EACCES ' "$W/lib.out" && grep -q ' ok 1 1$' "$W/lib.out"
  grep -q 'action=strip' "$W/lib.words" && grep -q 'action=exclusive' "$W/lib.words"
  # a port another test took meanwhile (EADDRINUSE: no directive here makes
  # one) says nothing about either backend: that case is left out
  local busy
  busy=$(awk '$2 == "EADDRINUSE" { printf "%s%s", sep, $1; sep = "|" }' "$W/lib.out" "$W/guard.out")
  if [[ -n $busy ]]; then
    echo "# ports taken meanwhile, left out: $busy" >&3
    for f in lib.out guard.out lib.words guard.words; do
      grep -Ev "^($busy) " "$W/$f" >"$W/$f.x" || true
      mv "$W/$f.x" "$W/$f"
    done
  fi
  diff "$W/lib.out" "$W/guard.out" >"$W/d1" || true
  diff "$W/lib.words" "$W/guard.words" >"$W/d2" || true
  if [[ -s $W/d1 || -s $W/d2 ]]; then
    fail "library vs guard (< library, > guard; ports from $port in policy order): $(cat "$W/d1" "$W/d2")"
  fi
}
