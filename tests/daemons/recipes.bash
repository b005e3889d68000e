# shellcheck shell=bash
# shellcheck disable=SC2034  # CMD, STOPSIG, PROTOS, KIND, PIDFILE are for the caller
# The recipes of docs/daemons.md as functions, for tests/daemons.bats: each
# real Debian daemon configured to serve one loopback port of the test
# range, foreground ("fg") or forking into the background ("bg", its pid
# in $T/NAME.pid), with its files in $T.
#
#   recipe NAME MODE PORT   sets CMD (the daemon's command line), STOPSIG
#                           (what stops it without dropping a connection),
#                           PROTOS (what it listens on), KIND (how to ask it)
#                           and PIDFILE (where it writes its pid)
#   answers KIND PORT       the daemon answers one request (bounded: 3 s)

# recipe_nginx MODE PORT
recipe_nginx() {
  mkdir -p "$T/nginx"
  cat >"$T/nginx.conf" <<CONF
daemon $([[ $1 == bg ]] && echo on || echo off);
master_process on;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
env LD_PRELOAD; env REUSE_POLICY; env REUSE_LOG; env REUSE_HANDOFF_DIR;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
  server { listen 127.0.0.1:$2; location / { return 200 "nginx\n"; } }
}
CONF
  CMD=(nginx -c "$T/nginx.conf" -e "$T/nginx.err")
  STOPSIG=QUIT PROTOS=tcp KIND=http
}

recipe_lighttpd() {
  mkdir -p "$T/www"
  echo lighttpd >"$T/www/index.html"
  cat >"$T/lighttpd.conf" <<CONF
server.document-root = "$T/www"
server.bind = "127.0.0.1"
server.port = $2
server.pid-file = "$T/lighttpd.pid"
server.errorlog = "$T/lighttpd.err"
CONF
  CMD=(lighttpd -f "$T/lighttpd.conf")
  [[ $1 == fg ]] && CMD+=(-D)
  STOPSIG=INT PROTOS=tcp KIND=http     # SIGINT: graceful shutdown
}

recipe_haproxy() {
  cat >"$T/haproxy.cfg" <<CONF
global
  pidfile $T/haproxy.pid
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend f
  bind 127.0.0.1:$2
  http-request return status 200 content-type text/plain string "haproxy"
CONF
  CMD=(haproxy -f "$T/haproxy.cfg")
  if [[ $1 == fg ]]; then CMD+=(-db); else CMD+=(-D); fi
  STOPSIG=USR1 PROTOS=tcp KIND=http    # USR1: soft stop, finishes what it accepted
}

recipe_redis() {
  CMD=(redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no --dir "$T"
    --pidfile "$T/redis.pid" --logfile "$T/redis.log" --daemonize "$([[ $1 == bg ]] && echo yes || echo no)")
  STOPSIG=TERM PROTOS=tcp KIND=redis
}

recipe_memcached() {
  # it writes its pid file as nobody: a directory nobody may write to
  [[ -d $T/nobody ]] || mkdir -m 1777 "$T/nobody"
  PIDFILE=$T/nobody/memcached.pid
  CMD=(memcached -l 127.0.0.1 -p "$2" -U 0 -u nobody)
  [[ $1 == bg ]] && CMD+=(-d -P "$PIDFILE")
  STOPSIG=USR1 PROTOS=tcp KIND=memcached   # USR1: graceful stop
}

recipe_sshd() {
  [[ -e $T/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -f "$T/ssh_host_ed25519_key"
  mkdir -p /run/sshd                       # privilege separation (tmpfiles.d does it at boot)
  cat >"$T/sshd_config" <<CONF
ListenAddress 127.0.0.1:$2
HostKey $T/ssh_host_ed25519_key
PidFile $T/sshd.pid
UsePAM no
CONF
  CMD=(/usr/sbin/sshd -f "$T/sshd_config")
  [[ $1 == fg ]] && CMD+=(-D)
  STOPSIG=TERM PROTOS=tcp KIND=ssh         # established sessions live on in their own processes
}

recipe_unbound() {
  cat >"$T/unbound.conf" <<CONF
server:
  interface: 127.0.0.1
  port: $2
  do-ip6: no
  do-daemonize: $([[ $1 == bg ]] && echo yes || echo no)
  username: ""
  chroot: ""
  directory: "$T"
  pidfile: "$T/unbound.pid"
  use-syslog: no
  logfile: "$T/unbound.log"
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  local-zone: "test." static
  local-data: "a.test. A 10.1.2.3"
remote-control:
  control-enable: no
CONF
  CMD=(unbound -c "$T/unbound.conf")
  [[ $1 == fg ]] && CMD+=(-d)
  STOPSIG=TERM PROTOS="udp tcp" KIND=dns
}

recipe_named() {
  cat >"$T/test.zone" <<ZONE
\$TTL 60
@ IN SOA ns.test. root.test. 1 60 60 60 60
@ IN NS ns.test.
ns IN A 127.0.0.1
a IN A 10.1.2.3
ZONE
  cat >"$T/named.conf" <<CONF
options {
  directory "$T";
  pid-file "$T/named.pid";
  listen-on port $2 { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
};
controls { };
zone "test" { type primary; file "$T/test.zone"; };
CONF
  CMD=(named -c "$T/named.conf" -n 1)
  [[ $1 == fg ]] && CMD+=(-g)
  STOPSIG=TERM PROTOS="udp tcp" KIND=dns
}

recipe_dnsmasq() {
  CMD=(dnsmasq --conf-file=/dev/null --port="$2" --listen-address=127.0.0.1 --bind-interfaces
    --no-resolv --no-hosts --address=/a.test/10.1.2.3 --pid-file="$T/dnsmasq.pid" --user=root)
  [[ $1 == fg ]] && CMD+=(-k)
  STOPSIG=TERM PROTOS="udp tcp" KIND=dns
}

recipe() {
  PIDFILE=$T/$1.pid
  "recipe_$1" "$2" "$3"
}

answers() {
  local kind=$1 port=$2
  case $kind in
    http)
      timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET /index.html HTTP/1.0\r\n\r\n" >&3 && cat <&3' _ "$port" |
        head -1 | grep -q '^HTTP/1\.[01] 200' ;;
    redis) timeout 3 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG ;;
    memcached)
      timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "version\r\n" >&3 && head -1 <&3' _ "$port" |
        grep -q '^VERSION' ;;
    ssh)
      timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -1 <&3' _ "$port" | grep -q '^SSH-2.0-' ;;
    dns) [[ $(dig @127.0.0.1 -p "$port" +short +time=1 +tries=2 a.test A 2>/dev/null) == 10.1.2.3 ]] ;;
  esac
}
