#!/usr/bin/env bash
# What a user who only wants the native SDK does: a Release configure of this source tree with
# the gateway, tools and tests off and KPG_WERROR at its default, build, install; then run.sh
# builds the consumer project against the installed package. The gateway's dependencies are
# made unfindable, so the SDK-only configure is shown not to need them.
#
#   sdk_only_build.sh SOURCE_DIR
set -euo pipefail
source_dir="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# pkg-config finding nothing hides librdkafka (FindOpenSSL falls back to a plain search).
PKG_CONFIG_LIBDIR="$work/no-pkgconfig" \
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DKPG_BUILD_GATEWAY=OFF -DKPG_BUILD_TESTS=OFF "${launcher[@]}" \
  -DCMAKE_DISABLE_FIND_PACKAGE_spdlog=ON -DCMAKE_DISABLE_FIND_PACKAGE_yaml-cpp=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON \
  >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j 2 >"$work/build.log" || { cat "$work/build.log"; exit 1; }
for dir in gateway tools tests packaging; do
  if [ -e "$work/build/$dir" ]; then
    echo "sdk-only build: $dir was configured" >&2
    exit 1
  fi
done
if [ -e "$work/build/sdk-native/kpg" ]; then
  echo "sdk-only build: the CLI (needs CLI11) was built" >&2
  exit 1
fi
"$(dirname "$0")/run.sh" "$work/build"
echo "sdk-only build: configure, build, install and consumer work"
