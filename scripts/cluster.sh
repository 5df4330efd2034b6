#!/usr/bin/env bash
# A loopback Redis Cluster of 3 masters and 3 replicas, to try distkit on.
#
#   scripts/cluster.sh up      ports 7001-7006 (bus ports 17001-17006)
#   scripts/cluster.sh down    stops the nodes and removes their data
#   scripts/demo.sh redis+cluster://127.0.0.1:7001
#
# PORT_BASE=8000 moves the ports to 8001-8006; REPLICAS=0 makes 3 masters
# alone (ports 7001-7003); the data lives in $CLUSTER_DIR (default
# /tmp/distkit-cluster-<first port>).
set -euo pipefail

base=${PORT_BASE:-7000}
replicas=${REPLICAS:-1}
ports=$(seq $((base + 1)) $((base + 3 * (1 + replicas))))
dir=${CLUSTER_DIR:-/tmp/distkit-cluster-$((base + 1))}

ping() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

up() {
  command -v redis-server >/dev/null || { echo "cluster.sh: redis-server is not on PATH (scripts/deps.sh installs it)" >&2; exit 1; }
  for p in $ports; do
    if ping "$p"; then echo "cluster.sh: port $p already answers; 'scripts/cluster.sh down' first" >&2; exit 1; fi
  done
  for p in $ports; do
    mkdir -p "$dir/$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
      --cluster-node-timeout 2000 --dir "$dir/$p" --save '' --appendonly no \
      --daemonize yes --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log"
  done
  for p in $ports; do
    for _ in $(seq 100); do ping "$p" && break; sleep 0.1; done
    ping "$p" || { echo "cluster.sh: node $p did not start:" >&2; cat "$dir/$p/redis.log" >&2; exit 1; }
  done
  # shellcheck disable=SC2046
  redis-cli --cluster create $(for p in $ports; do echo "127.0.0.1:$p"; done) --cluster-replicas "$replicas" --cluster-yes >/dev/null
  for p in $ports; do
    for _ in $(seq 300); do
      redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' && break
      sleep 0.1
    done
    redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok' || { echo "cluster.sh: node $p never reported cluster_state:ok" >&2; exit 1; }
  done
  echo "cluster up: redis+cluster://127.0.0.1:$((base + 1))  (data in $dir)"
}

down() {
  for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$dir"
  echo "cluster down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/cluster.sh up|down" >&2; exit 2 ;;
esac
