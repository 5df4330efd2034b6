#!/usr/bin/env bash
# Benchmarks distkit against the physical limit, in one run:
#   1. starts a throwaway redis-server on a free loopback port (no persistence);
#   2. builds bench/ in Release and runs distkit_bench, which measures each
#      ceiling with redis-benchmark on the library's own scripts (loaded with
#      SCRIPT LOAD, called with EVALSHA and the exact arguments the library
#      sends, captured with MONITOR) and each library figure, 5 times each;
#   3. starts a loopback Redis Cluster of 3 masters (scripts/cluster.sh) for
#      the Cluster figures;
#   4. prints one table (medians, ceilings, ratios) and writes bench/results.json.
#
#   bench/run.sh [--repeat N] [--quick] [--only TEXT]
# Needs what scripts/deps.sh installs. Takes about 6 minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not on PATH (scripts/deps.sh installs it)" >&2; exit 1; }
done

echo "=== build build-bench (Release)" >&2
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DDISTKIT_BUILD_BENCH=ON -DDISTKIT_BUILD_TESTS=OFF \
  -DDISTKIT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-bench -j"${JOBS:-2}" --target distkit_bench >&2

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
       shuf -i 20000-60000 -n 1)
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no --daemonize yes \
  --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

# A cluster of 3 masters for the Cluster figures, on ports free with their
# bus ports (+10000).
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 50); do
  base=$(shuf -i 20000-29000 -n 1)
  free $((base + 1)) && free $((base + 2)) && free $((base + 3)) && free $((base + 10001)) &&
    free $((base + 10002)) && free $((base + 10003)) && break
done
export PORT_BASE=$base REPLICAS=0 CLUSTER_DIR="$dir/cluster"
scripts/cluster.sh up >&2
trap 'scripts/cluster.sh down >/dev/null 2>&1 || true; redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

echo "=== redis-server $(redis-server --version | grep -o 'v=[0-9.]*') on 127.0.0.1:$port" >&2
./build-bench/bench/distkit_bench --port "$port" --cluster "$((base + 1)),$((base + 2)),$((base + 3))" \
  --json bench/results.json "$@"
echo "=== wrote bench/results.json" >&2
