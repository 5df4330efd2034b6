#!/usr/bin/env bash
# Installs what distkit needs to build, test and run its examples on
# Debian 12 (bookworm): a compiler, CMake, the libraries and redis-server.
# Nothing is started: tests and demos run their own redis-server.
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libhiredis-dev libasio-dev libfmt-dev libspdlog-dev libssl-dev catch2
  redis-server redis-tools
)

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: run as root (or install sudo)" >&2; exit 1; }
  sudo=(sudo)
fi

"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${packages[@]}"
