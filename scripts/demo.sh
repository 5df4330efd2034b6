#!/usr/bin/env bash
# Builds the examples and runs the fleet demo (or another example).
#
#   scripts/demo.sh [redis-url]
#   DEMO=quickstart scripts/demo.sh            another example
#   DEMO_ARGS="--instances 6 --threshold-ms 2000" scripts/demo.sh
#
# Without a URL it runs against a throwaway redis-server (on a unix socket in
# a temp dir, so no port can clash), stopped and removed afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${BUILD_DIR:-build}
demo=${DEMO:-fleet_demo}

echo "=== build ${build_dir} (target ${demo})"
cmake -S . -B "$build_dir" -DDISTKIT_BUILD_EXAMPLES=ON
cmake --build "$build_dir" -j"${JOBS:-2}" --target "$demo"

if [ $# -gt 0 ]; then
  echo "=== run ${demo} $1"
  exec "$build_dir/examples/$demo" "$1" ${DEMO_ARGS:-}
fi

command -v redis-server >/dev/null || { echo "demo.sh: redis-server is not on PATH (scripts/deps.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/distkit-demo.XXXXXX)
socket="$tmp/redis.sock"
redis-server --port 0 --unixsocket "$socket" --dir "$tmp" --save '' --appendonly no \
  --logfile "$tmp/redis.log" &
redis_pid=$!
cleanup() {
  kill "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

for _ in $(seq 100); do
  redis-cli -s "$socket" ping >/dev/null 2>&1 && break
  kill -0 "$redis_pid" 2>/dev/null || { echo "demo.sh: redis-server failed to start:" >&2; cat "$tmp/redis.log" >&2; exit 1; }
  sleep 0.1
done

echo "=== run ${demo} against a throwaway redis-server"
"$build_dir/examples/$demo" "unix://$socket" ${DEMO_ARGS:-}
