#!/usr/bin/env bash
# Measures the Lua scripts alone: redis-benchmark of EVALSHA with arguments
# shaped like the library's, against a throwaway redis-server.
#
#   bench/scripts.sh [lua-dir...]     (default: lua/ of this checkout)
#   SCALE=0.2 bench/scripts.sh        fewer calls, for a quick look
#   ONLY="flush" bench/scripts.sh     only the benchmarks so named
#   REDIS_ARGS="--hash-max-listpack-entries 0" bench/scripts.sh
#                                             server options (here: no listpacks)
#
# Several lua dirs (say, an old checkout's lua/ and this one's) are measured
# one after another on one server; an instance-aware script of layout 1
# (before issue #11) or 2 gets the arguments of its own layout. For each of
# plain inc, plain flush of 100 keys, instance-aware inc and instance-aware
# flush of 100 keys (at -c 1 -P 64) it prints calls/s, and the server's CPU
# time per call (from /proc/<pid>/stat) as calls per CPU-second: on a machine
# shared with other work that is the steadier number. Flushes use a new
# sequence key on every call (__rand_int__), so each batch is applied. For
# layout 2 it also measures inc on one of 100,000 keys of a family with
# 1,000 live instances ("at scale"), to compare with one instance, one key.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -gt 0 ] || set -- lua
scale=${SCALE:-1}

command -v redis-benchmark >/dev/null || { echo "bench/scripts.sh: redis-benchmark is not on PATH" >&2; exit 1; }
tmp=$(mktemp -d /tmp/distkit-bench.XXXXXX)
socket="$tmp/redis.sock"
# shellcheck disable=SC2086  # REDIS_ARGS: several words
redis-server --port 0 --unixsocket "$socket" --dir "$tmp" --save '' --appendonly no \
  --logfile "$tmp/redis.log" ${REDIS_ARGS:-} &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done

cli() { redis-cli -s "$socket" "$@"; }
cpu_ticks() { [ -r "/proc/$redis_pid/stat" ] && awk '{ print $14 + $15 }' "/proc/$redis_pid/stat" || echo 0; }
ticks_per_s=$(getconf CLK_TCK)

bench() {  # name, number of calls, command...
  local name=$1 n
  [[ -z "${ONLY:-}" || "$name" == *"$ONLY"* ]] || return 0
  n=$(awk -v n="$2" -v s="$scale" 'BEGIN { printf "%d", n * s }')
  shift 2
  local reply  # one call first: a benchmark of an error reply measures nothing
  reply=$(cli "$@" 2>&1 | head -c 300)
  case $reply in *ERR*|*rror*) echo "bench/scripts.sh: $name: $reply" >&2; exit 1 ;; esac
  cli FLUSHALL >/dev/null
  [ -z "${setup:-}" ] || cli EVAL "$setup" 0 >/dev/null
  redis-benchmark -s "$socket" -c 1 -P 64 -n $((n / 10 + 1)) -r 1000000000 "$@" >/dev/null  # warm-up
  local before rps after
  before=$(cpu_ticks)
  if ! rps=$(redis-benchmark -s "$socket" -c 1 -P 64 -n "$n" -r 1000000000 --csv "$@" | awk -F'"' 'NR == 2 { print $4 }'); then
    echo "bench/scripts.sh: $name: redis-benchmark failed; the server's log ends:" >&2
    tail -n 20 "$tmp/redis.log" >&2
    exit 1
  fi
  after=$(cpu_ticks)
  awk -v name="$name" -v rps="$rps" -v n="$n" -v t=$((after - before)) -v hz="$ticks_per_s" 'BEGIN {
    printf "%-28s %10.0f calls/s", name, rps
    if (t > 0) printf "   %9.0f calls per CPU-second of redis-server", n / (t / hz)
    printf "\n" }'
}

p='{bench}'
id=0f8e2c4a-5b1d-4e7f-9a3c-6d2b1e0f4a5c
plain_flush=() ia_flush=() ia1_flush=()
for i in $(seq 0 99); do
  plain_flush+=("key$i" 1)
  ia_flush+=("key$i" 1)
  ia1_flush+=("key$i" 1 5 0)  # layout 1: key, delta, known slice, known epoch
done
# Layout 2: the family's keys and the caller's; then op, id, threshold,
# retention, work budget, job.
b="$p:ia:v2"
ia_keys=(10 "$b:live" "$b:cum" "$b:epoch" "$p:ia:meta" "$b:jobs" "$b:cursors" "$b:lease" "$p:ia:live"
         "$b:inst:$id" "$b:park:$id")
ia_args=("$id" 30000 86400000 1000 "")
# 1,000 live instances (deadlines far ahead) and 100,000 keys with epochs.
at_scale="for i = 1, 1000 do redis.call('ZADD', '$b:live', 9e15, 'other' .. i) end
for k = 0, 99999 do redis.call('HSET', '$b:cum', 'key' .. k, '1') redis.call('HSET', '$b:epoch', 'key' .. k, '1') end
redis.call('HSET', '$p:ia:meta', 'layout', '2', 'epoch', '1')"

for lua_dir in "$@"; do
  [ $# -eq 1 ] || echo "== $lua_dir"
  # As cmake/embed_scripts.cmake does: common.lua, a newline, the script.
  counter=$(cli SCRIPT LOAD "$(cat "$lua_dir/common.lua"; echo; cat "$lua_dir/counter.lua")")
  ia=$(cli SCRIPT LOAD "$(cat "$lua_dir/common.lua"; echo; cat "$lua_dir/instance_aware.lua")")
  bench "plain inc" 400000 EVALSHA "$counter" 1 "$p:totals" inc key0 1
  bench "plain flush (100 keys)" 20000 EVALSHA "$counter" 2 "$p:totals" "$p:seq:__rand_int__" flush 1 "${plain_flush[@]}"
  if grep -q "layout 2" "$lua_dir/instance_aware.lua"; then
    bench "instance-aware inc" 200000 EVALSHA "$ia" "${ia_keys[@]}" inc "${ia_args[@]}" key0 1
    setup=$at_scale bench "instance-aware inc at scale" 200000 EVALSHA "$ia" "${ia_keys[@]}" inc \
      "${ia_args[@]}" key__rand_int__ 1
    # A new lane on every call (its sequence record is a field of the
    # caller's hash), so each batch is applied.
    bench "instance-aware flush (100)" 5000 EVALSHA "$ia" "${ia_keys[@]}" flush "${ia_args[@]}" __rand_int__ 1 \
      "${ia_flush[@]}"
  else
    v1_keys=(5 "$p:ia:live" "$p:ia:cum" "$p:ia:epoch" "$p:ia:inst:$id")
    v1_args=("$id" 30000 "$p:ia:inst:" "$p:ia:seq:")
    bench "instance-aware inc" 200000 EVALSHA "$ia" "${v1_keys[@]}" "$p:ia:seq:$id" inc "${v1_args[@]}" key0 5 0 1
    bench "instance-aware flush (100)" 5000 EVALSHA "$ia" "${v1_keys[@]}" "$p:ia:seq:__rand_int__" flush \
      "${v1_args[@]}" 1 "${ia1_flush[@]}"
  fi
done
