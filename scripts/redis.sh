#!/usr/bin/env bash
# Starts the Redis instances the test run shares, on loopback ports of its own:
#   scripts/redis.sh start DIR   one standalone Redis and a 3-node Redis Cluster, each in a
#                                folder under DIR; prints `QTLS_TEST_REDIS_URL=...` and
#                                `QTLS_TEST_REDIS_CLUSTER=...` lines for the tests
#   scripts/redis.sh stop DIR    stops every instance started under DIR
# Nothing is written to disk but the logs (--save '' --appendonly no).
set -euo pipefail

cmd=${1:?usage: redis.sh start|stop DIR}
dir=${2:?usage: redis.sh start|stop DIR}
say() { echo "redis.sh: $*" >&2; }

# A port on 127.0.0.1 that is free now and whose cluster bus port (+10000) is free too.
free_port() {
  python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 50000)
    if free(p) and free(p + 10000):
        print(p); break
PY
}

start_one() {
  local port=$1
  shift
  mkdir -p "$dir/$port"
  (cd "$dir/$port" && redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile redis.log "$@" >/dev/null)
  for _ in $(seq 100); do
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then return 0; fi
    sleep 0.1
  done
  say "redis-server on port $port did not answer; its log:"
  tail -n 20 "$dir/$port/redis.log" >&2 || true
  return 1
}

case $cmd in
start)
  mkdir -p "$dir"
  port=$(free_port)
  start_one "$port"
  echo "QTLS_TEST_REDIS_URL=redis://127.0.0.1:$port"
  nodes=()
  for _ in 1 2 3; do
    port=$(free_port)
    start_one "$port" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 5000
    nodes+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/cluster-create.log" 2>&1 || {
    say "redis-cli --cluster create failed:"
    cat "$dir/cluster-create.log" >&2
    exit 1
  }
  for node in "${nodes[@]}"; do
    for _ in $(seq 200); do
      if redis-cli -p "${node#*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then break; fi
      sleep 0.1
    done
  done
  echo "QTLS_TEST_REDIS_CLUSTER=$(IFS=,; echo "${nodes[*]}")"
  ;;
stop)
  pids=()
  for pidfile in "$dir"/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    pids+=("$(cat "$pidfile")")
  done
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.1
  done
  rm -rf "$dir"
  ;;
*)
  say "unknown command $cmd"
  exit 2
  ;;
esac
