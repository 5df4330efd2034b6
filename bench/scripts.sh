#!/usr/bin/env bash
# Measures the Lua scripts alone: redis-benchmark of EVALSHA with arguments
# shaped like the library's, against a throwaway redis-server.
#
#   bench/scripts.sh [lua-dir...]     (default: lua/ of this checkout)
#   SCALE=0.2 bench/scripts.sh        fewer calls, for a quick look
#   ONLY="flush" bench/scripts.sh     only the benchmarks so named
#   REDIS_ARGS="--hash-max-listpack-entries 0" bench/scripts.sh
#                                             server options (here: no listpacks)
#   INSTRUCTIONS=1 bench/scripts.sh   instructions per call instead of CPU time
#
# Several lua dirs (say, an old checkout's lua/ and this one's) are measured
# one after another on one server; an instance-aware script of layout 1
# (before issue #11) or 2 gets the arguments of its own layout. For each of
# plain inc, plain flush of 100 keys, instance-aware inc and instance-aware
# flush of 100 keys (at -c 1 -P 64) it prints calls/s, and the server's CPU
# time per call (from /proc/<pid>/stat) as calls per CPU-second: on a machine
# shared with other work that is the steadier number. Flushes use a new
# sequence key on every call (__rand_int__), so each batch is applied. For
# layout 2 it also measures inc in a family of 100,000 keys and 1,000 live
# instances ("at scale"), to compare with one instance, one key.
#
# With INSTRUCTIONS=1, redis-server runs under valgrind's callgrind (a
# twentieth of the calls) and each benchmark prints the instructions the
# server executed per call: slow, but the same figure on every run however
# busy the machine is, so two scripts compare within a percent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -gt 0 ] || set -- lua
scale=${SCALE:-1}

command -v redis-benchmark >/dev/null || { echo "bench/scripts.sh: redis-benchmark is not on PATH" >&2; exit 1; }
tmp=$(mktemp -d /tmp/distkit-bench.XXXXXX)
socket="$tmp/redis.sock"
wrapper=()
if [ -n "${INSTRUCTIONS:-}" ]; then
  command -v callgrind_control >/dev/null || { echo "bench/scripts.sh: INSTRUCTIONS=1 needs valgrind" >&2; exit 1; }
  wrapper=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/callgrind.out" --log-file="$tmp/valgrind.log")
  scale=$(awk -v s="$scale" 'BEGIN { print s / 20 }')
fi
# shellcheck disable=SC2086  # REDIS_ARGS: several words
"${wrapper[@]}" redis-server --port 0 --unixsocket "$socket" --dir "$tmp" --save '' --appendonly no \
  --logfile "$tmp/redis.log" ${REDIS_ARGS:-} &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 300); do [ -S "$socket" ] && break; sleep 0.1; done

cli() { redis-cli -s "$socket" "$@"; }
cpu_ticks() { [ -r "/proc/$redis_pid/stat" ] && awk '{ print $14 + $15 }' "/proc/$redis_pid/stat" || echo 0; }
ticks_per_s=$(getconf CLK_TCK)
# Instructions since the last call (callgrind zeroes its counters at a dump).
instructions() {
  rm -f "$tmp"/callgrind.out*
  callgrind_control -d "$redis_pid" >/dev/null 2>&1
  for _ in $(seq 100); do compgen -G "$tmp/callgrind.out*" >/dev/null && break; sleep 0.1; done
  awk '/^(summary|totals):/ { print $2; exit }' "$tmp"/callgrind.out*
}

# Runs n calls of a command and prints calls/s. redis-benchmark sends them,
# 64 at a time; __rand_int__ is a 12-digit number below $range. A command
# with __seq__ goes through redis-cli --pipe instead, with __seq__ counting
# up from first + 1.
calls() {  # n, first, command...
  local n=$1 first=$2
  shift 2
  if [[ "$*" != *__seq__* ]]; then
    redis-benchmark -s "$socket" -c 1 -P 64 -n "$n" -r "${range:-1000000000}" --csv "$@" | awk -F'"' 'NR == 2 { print $4 }'
    return
  fi
  awk -v n="$n" -v first="$first" 'BEGIN {
    for (i = 1; i < ARGC; i++) arg[i] = ARGV[i]
    for (c = first + 1; c <= first + n; c++) {
      printf "*%d\r\n", ARGC - 1
      for (i = 1; i < ARGC; i++) { a = arg[i]; gsub(/__seq__/, c, a); printf "$%d\r\n%s\r\n", length(a), a }
    }
    exit }' "$@" >"$tmp/calls.resp"
  local start end
  start=$(date +%s%N)
  redis-cli -s "$socket" --pipe <"$tmp/calls.resp" >/dev/null
  end=$(date +%s%N)
  awk -v n="$n" -v ns=$((end - start)) 'BEGIN { print n / (ns / 1e9) }'
}

bench() {  # name, number of calls, command...
  local name=$1 n
  [[ -z "${ONLY:-}" || "$name" == *"$ONLY"* ]] || return 0
  n=$(awk -v n="$2" -v s="$scale" 'BEGIN { printf "%d", n * s }')
  shift 2
  local reply  # one call first: a benchmark of an error reply measures nothing
  reply=$(cli "${@//__seq__/0}" 2>&1 | head -c 300)
  case $reply in *ERR*|*rror*) echo "bench/scripts.sh: $name: $reply" >&2; exit 1 ;; esac
  cli FLUSHALL >/dev/null
  [ -z "${setup:-}" ] || cli EVAL "$setup" 0 >/dev/null
  calls $((n / 10 + 1)) 0 "$@" >/dev/null  # warm-up
  local before rps after
  before=$(cpu_ticks)
  if [ -n "${INSTRUCTIONS:-}" ]; then callgrind_control -i on "$redis_pid" >/dev/null 2>&1; instructions >/dev/null; fi
  if ! rps=$(calls "$n" $((n / 10 + 1)) "$@"); then
    echo "bench/scripts.sh: $name: redis-benchmark failed; the server's log ends:" >&2
    tail -n 20 "$tmp/redis.log" >&2
    exit 1
  fi
  after=$(cpu_ticks)
  if [ -n "${INSTRUCTIONS:-}" ]; then
    awk -v name="$name" -v n="$n" -v ir="$(instructions)" 'BEGIN { printf "%-28s %10.0f instructions per call\n", name, ir / n }'
    callgrind_control -i off "$redis_pid" >/dev/null 2>&1
    return 0
  fi
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
# A family at scale: 1,000 live instances (deadlines far ahead), 100,000
# keys with epochs, and the caller holding a slice of each. Keys are named as
# redis-benchmark names them (key__rand_int__ with -r 100000).
at_scale="for i = 1, 1000 do redis.call('ZADD', '$b:live', 9e15, 'other' .. i) end
for k = 0, 99999 do
  local key = string.format('key%012d', k)
  redis.call('HSET', '$b:cum', key, '1')
  redis.call('HSET', '$b:epoch', key, '1')
  redis.call('HSET', '$b:inst:$id', 's:' .. key, '1', 'e:' .. key, '1')
end
redis.call('HSET', '$p:ia:meta', 'layout', '2', 'epoch', '1')
redis.call('ZADD', '$b:live', 9e15, '$id')"
# 100,000 keys of the plain counter, for the same random access without the
# instance-aware layout.
plain_at_scale="for k = 0, 99999 do redis.call('HSET', '$p:totals', string.format('key%012d', k), '1') end"

for lua_dir in "$@"; do
  [ $# -eq 1 ] || echo "== $lua_dir"
  # As cmake/embed_scripts.cmake does: common.lua, a newline, the script.
  counter=$(cli SCRIPT LOAD "$(cat "$lua_dir/common.lua"; echo; cat "$lua_dir/counter.lua")")
  ia=$(cli SCRIPT LOAD "$(cat "$lua_dir/common.lua"; echo; cat "$lua_dir/instance_aware.lua")")
  bench "plain inc" 400000 EVALSHA "$counter" 1 "$p:totals" inc key0 1
  setup=$plain_at_scale range=100000 bench "plain inc, random key" 200000 EVALSHA "$counter" 1 "$p:totals" inc \
    key__rand_int__ 1
  bench "plain flush (100 keys)" 20000 EVALSHA "$counter" 2 "$p:totals" "$p:seq:__rand_int__" flush 1 "${plain_flush[@]}"
  if grep -q "layout 2" "$lua_dir/instance_aware.lua"; then
    bench "instance-aware inc" 200000 EVALSHA "$ia" "${ia_keys[@]}" inc "${ia_args[@]}" key0 1
    # At scale: the op's own work is the same (one key, one slice), the
    # family around it is large; then random keys, whose cost is Redis's
    # cache misses as much as the script's (compare "plain inc, random key").
    setup=$at_scale bench "instance-aware inc at scale" 200000 EVALSHA "$ia" "${ia_keys[@]}" inc "${ia_args[@]}" \
      key000000000007 1
    setup=$at_scale range=100000 bench "instance-aware inc, random key" 200000 EVALSHA "$ia" "${ia_keys[@]}" inc \
      "${ia_args[@]}" key__rand_int__ 1
    # One lane, each batch the next in its sequence, so each is applied.
    bench "instance-aware flush (100)" 5000 EVALSHA "$ia" "${ia_keys[@]}" flush "${ia_args[@]}" 0 __seq__ \
      "${ia_flush[@]}"
  else
    v1_keys=(5 "$p:ia:live" "$p:ia:cum" "$p:ia:epoch" "$p:ia:inst:$id")
    v1_args=("$id" 30000 "$p:ia:inst:" "$p:ia:seq:")
    bench "instance-aware inc" 200000 EVALSHA "$ia" "${v1_keys[@]}" "$p:ia:seq:$id" inc "${v1_args[@]}" key0 5 0 1
    bench "instance-aware flush (100)" 5000 EVALSHA "$ia" "${v1_keys[@]}" "$p:ia:seq:__rand_int__" flush \
      "${v1_args[@]}" 1 "${ia1_flush[@]}"
  fi
done
