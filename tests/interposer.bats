#!/usr/bin/env bats
# The interposer itself: what it exports, how it links, and that it works
# before its own constructor and chained with another preload library.
load helpers

setup() {
  gcc -shared -fPIC -O1 -o "$BATS_TEST_TMPDIR/libctor.so" "$ROOT/tests/fixtures/ctorlib.c"
  gcc -shared -fPIC -O1 -o "$BATS_TEST_TMPDIR/libcount.so" "$ROOT/tests/fixtures/countlib.c" -ldl
}

# bats test_tags=quick
@test "exports exactly the interposed calls, everything else hidden" {
  run bash -c "nm -D --defined-only '$LIB' | awk '{print \$3}' | sort | tr '\n' ' '"
  assert_success
  assert_output "bind close close_range closefrom connect dup dup2 dup3 fcntl fcntl64 getsockopt listen sendmmsg sendmsg sendto setsockopt shutdown socket "
}

@test "linked with full RELRO and immediate binding" {
  run readelf -lW "$LIB"
  assert_output --partial GNU_RELRO
  run readelf -dW "$LIB"
  assert_output --regexp 'FLAGS.*BIND_NOW|BIND_NOW'
}

@test "a library constructor that binds before ours has run is still decided (both orders)" {
  for order in "$LIB $BATS_TEST_TMPDIR/libctor.so" "$BATS_TEST_TMPDIR/libctor.so $LIB"; do
    run env LD_PRELOAD="$order" REUSE_LOG="$BATS_TEST_TMPDIR/log" /bin/true
    assert_success
    assert_output "ctor bind=0 kernel_ra=1"
  done
  run grep -c 'bind fd=.* rule=default:[0-9]* option=SO_REUSEADDR asked=off action=force result=ok' "$BATS_TEST_TMPDIR/log"
  assert_output 2
}

@test "chains with another preloaded bind() interposer, in either order" {
  for order in "$LIB $BATS_TEST_TMPDIR/libcount.so" "$BATS_TEST_TMPDIR/libcount.so $LIB"; do
    run env LD_PRELOAD="$order" "$PROBES/bindprobe" -l 127.0.0.1 0
    assert_success
    assert_output --partial "countlib: bind fd="
    assert_output --partial "kernel_ra=1"
    assert_output --partial "action=force result=ok"
  done
}

@test "sendto() and shutdown() reach the next interposer below libreuse, not a raw system call" {
  run env LD_PRELOAD="$LIB:$BATS_TEST_TMPDIR/libcount.so" REUSE_LOG=off /usr/bin/python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("127.0.0.1", 9))
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(); t.shutdown(socket.SHUT_RDWR)'
  assert_success
  assert_output --partial "countlib: sendto fd="
  assert_output --partial "countlib: shutdown fd="
}

@test "control: without the library the constructor's socket has no SO_REUSEADDR" {
  run env LD_PRELOAD="$BATS_TEST_TMPDIR/libctor.so" /bin/true
  assert_output "ctor bind=0 kernel_ra=0"
}
