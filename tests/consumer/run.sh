#!/usr/bin/env bash
# Installs the SDK (install component `sdk` alone) from the build tree into an empty prefix, then
# builds a consumer project against it twice: through find_package(kpg CONFIG) and pkg-config.
set -euo pipefail
build_dir="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --component sdk --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer" ws://127.0.0.1:1/kafka

export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$(ls -d "$work"/prefix/lib/*/pkgconfig 2>/dev/null | tr '\n' ':')"
# shellcheck disable=SC2046
c++ -o "$work/consumer-pc" "$here/main.cpp" $(pkg-config --cflags --libs kpg)
"$work/consumer-pc" ws://127.0.0.1:1/kafka
echo "consumer: find_package and pkg-config builds work"
