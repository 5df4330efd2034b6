#!/usr/bin/env bash
# Configures, builds and tests distkit (warnings are errors).
#
#   scripts/test.sh [-B build-dir] [cmake args...] [-- ctest args...]
#
# Defaults: build dir `build`, RelWithDebInfo. Examples:
#   scripts/test.sh
#   scripts/test.sh -B build-asan -DDISTKIT_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
#   scripts/test.sh -B build-tsan -DDISTKIT_SANITIZE=thread -- -L concurrency
# The tests start their own redis-server (it must be on PATH); JOBS sets the
# build parallelism (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build
cmake_args=()
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -B) build_dir="$2"; shift 2 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) cmake_args+=("$1"); shift ;;
  esac
done

command -v redis-server >/dev/null || { echo "test.sh: redis-server is not on PATH (scripts/deps.sh installs it)" >&2; exit 1; }

echo "=== configure ${build_dir}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISTKIT_WERROR=ON -DDISTKIT_BUILD_TESTS=ON "${cmake_args[@]}"
echo "=== build ${build_dir}"
cmake --build "$build_dir" -j"${JOBS:-2}"
echo "=== test ${build_dir}"
ctest --test-dir "$build_dir" --output-on-failure "${ctest_args[@]}"
