# Shared helpers for the bench/ scripts (sourced, not run).
# Everything runs on loopback, is bounded in time, and is cleaned up on exit.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
CGROUPS=()
trap 'cleanup; uncap' EXIT

# Installs Debian packages that are missing (apt-get update once).
need() {
  local missing=()
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$cmd")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# BARISTA_BIN=path runs that build instead (an older commit's, for a before
# and after measured side by side).
build_barista() {
  if [ -n "${BARISTA_BIN:-}" ]; then
    BARISTA=$(realpath "$BARISTA_BIN")
    return
  fi
  (cd "$ROOT" && cargo build --release --locked -q -p barista)
  BARISTA="$ROOT/target/release/barista"
}

# On two cores, the server and the load generator each get one (SERVER_CPU and
# LOAD_CPU), so a ratio measures code, not the scheduler.
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
# For a server started in the background, call taskset itself: a function run
# with & is a subshell, and $! would name the subshell, not the server.
on_server_cpu() { taskset -c "$SERVER_CPU" "$@"; }
on_load_cpu() { taskset -c "$LOAD_CPU" "$@"; }
# How wrk_rate runs wrk (a bench sets WRK=(on_load_cpu wrk) to pin it).
WRK=(wrk)

# start_barista PORT [flags...]: runs serve on a fresh database; sets STAFF_KEY.
# Request logs are off (RUST_LOG=warn) as nginx's access_log is off in the anchors.
# With PIN_SERVER=1 it runs on SERVER_CPU alone.
start_barista() {
  local port=$1; shift
  local db="$WORK/barista-$port.db"
  local pin=()
  [ "${PIN_SERVER:-0}" = 1 ] && pin=(taskset -c "$SERVER_CPU")
  RUST_LOG="${RUST_LOG:-warn}" "${pin[@]}" "$BARISTA" serve --listen "127.0.0.1:$port" --metrics-listen 127.0.0.1:0 \
    --database "sqlite://$db" "$@" \
    >"$WORK/barista-$port.out" 2>"$WORK/barista-$port.err" &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  STAFF_KEY=$(grep -o 'bsk_[0-9a-f]*' "$WORK/barista-$port.out" | head -1 || true)
}

# nginx_conf SERVERS LB [SED_ARGS...]: the shipped nginx config (deploy/nginx)
# for local replicas into $WORK/nginx.conf: SERVERS (its `server` lines, each
# ending in `max_fails=0;`) in both upstreams, listening on LB, with its pid,
# log and cache in $WORK.
# SED_ARGS run first (a bench's own changes, such as the worker count).
nginx_conf() {
  local servers=$1 lb=$2; shift 2
  sed "$@" -e "/# REPLICAS/,/keepalive/{/server 127/d}" -e "s|# REPLICAS|$servers|" \
    -e "s|/var/cache/nginx/barista|$WORK/nginx-cache|" \
    -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$lb|" \
    -e "s|worker_processes auto;|worker_processes 1;\npid $WORK/nginx.pid;\nerror_log $WORK/nginx.log;|" \
    "$ROOT/deploy/nginx/barista.conf" >"$WORK/nginx.conf"
}

# wrk_rate ARGS...: runs wrk and prints its requests per second.
wrk_rate() {
  "${WRK[@]}" "$@" | awk '/^Requests\/sec:/ {print $2}'
}

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# CPU caps for replicas (root): a cgroup each, v1 (cpu controller) or v2 (cpu.max).
# cgroup_init once; then cap NAME PID holds PID (all its threads) to QUOTA cores
# in windows of PERIOD_MS (both set by the bench); the caps go on exit.
cgroup_init() {
  [ "$(id -u)" -eq 0 ] || { echo "capping a replica's CPU needs root (cgroups)" >&2; exit 1; }
  if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    CG_ROOT=/sys/fs/cgroup/cpu; CG_VERSION=1
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    CG_ROOT=/sys/fs/cgroup; CG_VERSION=2
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
  else
    echo "no cgroup CPU controller found" >&2; exit 1
  fi
}
cap() {
  local dir="$CG_ROOT/barista-bench-$1"
  mkdir -p "$dir"; CGROUPS+=("$dir")
  local period=$((PERIOD_MS * 1000)) quota
  quota=$(python3 -c "print(int($QUOTA * $period))")
  if [ "$CG_VERSION" = 1 ]; then
    echo "$period" >"$dir/cpu.cfs_period_us"; echo "$quota" >"$dir/cpu.cfs_quota_us"
  else
    echo "$quota $period" >"$dir/cpu.max"
  fi
  echo "$2" >"$dir/cgroup.procs"
}
uncap() {
  for dir in "${CGROUPS[@]}"; do
    [ -d "$dir" ] || continue
    while read -r pid; do echo "$pid" >"$(dirname "$dir")/cgroup.procs" 2>/dev/null || true; done <"$dir/cgroup.procs"
    rmdir "$dir" 2>/dev/null || true
  done
  CGROUPS=()
}
