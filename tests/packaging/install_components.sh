#!/usr/bin/env bash
# Installs each install component (sdk, gateway, cli) from a build tree into its own empty prefix
# with --strip and checks what lands there: the exact file list, stripped binaries below a size
# bound, SDK archives without debug information, no install() left without a component, and the
# installed gateway starting from the installed example configuration.
#   install_components.sh BUILD_DIR LIBDIR BINDIR DATADIR UNITDIR MAX_GATEWAY_BYTES [CONFIG]
set -euo pipefail
usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[ $# -ge 6 ] || { usage >&2; exit 2; }
build_dir="$1" libdir="$2" bindir="$3" datadir="$4" unitdir="$5" max_gateway="$6"
config="${7:-noconfig}"  # the build type, lower case (it names the exported targets' file)
work="$(mktemp -d)"
# shellcheck source=../support/gateway.sh
. "$(dirname "$0")/../support/gateway.sh"
trap 'gateway_stop; rm -rf "$work"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

expected_sdk="include/kpg/pubsub.pb.h
include/kpg/sdk/client.h
include/kpg/sdk/filter.h
include/kpg/sdk/group.h
include/kpg/sdk/native_client.h
include/kpg/sdk/producer.h
include/kpg/sdk/protocol_session.h
include/kpg/sdk/subscription.h
include/kpg/sdk/transport.h
include/kpg/sdk/types.h
include/kpg/sdk/ws_url.h
$libdir/cmake/kpg/kpgConfig.cmake
$libdir/cmake/kpg/kpgConfigVersion.cmake
$libdir/cmake/kpg/kpgTargets-$config.cmake
$libdir/cmake/kpg/kpgTargets.cmake
$libdir/libkpg_proto.a
$libdir/libkpg_sdk.a
$libdir/libkpg_sdk_core.a
$libdir/pkgconfig/kpg.pc"
expected_gateway="$bindir/kpg-gateway
$datadir/kpg/gateway.example.yaml
$unitdir/kpg-gateway.service"
expected_cli="$bindir/kpg"

files_in() { (cd "$1" && find . -type f -o -type l) | sed 's|^\./||' | LC_ALL=C sort; }
install_component() {  # component prefix
  cmake --install "$build_dir" --component "$1" --prefix "$2" --strip >"$work/install-$1.log" ||
    { cat "$work/install-$1.log"; fail "cmake --install --component $1"; }
}

for component in sdk gateway cli; do
  prefix="$work/$component"
  install_component "$component" "$prefix"
  var="expected_$component"
  want="$(LC_ALL=C sort <<<"${!var}")"
  got="$(files_in "$prefix")"
  if [ "$got" != "$want" ]; then
    diff <(echo "$want") <(echo "$got") | sed 's/^/  /' >&2 || true
    fail "component $component installs other files than expected ('<' expected, '>' installed)"
  fi
  echo "ok: component $component: $(wc -l <<<"$got") files"
done

# Every install() names a component: the three together are the whole installation, and
# nothing is left in CMake's default component.
cmake --install "$build_dir" --prefix "$work/all" >/dev/null
all="$(files_in "$work/all")"
union="$(printf '%s\n%s\n%s\n' "$expected_sdk" "$expected_gateway" "$expected_cli" | LC_ALL=C sort)"
[ "$all" = "$union" ] || { diff <(echo "$union") <(echo "$all") >&2 || true; fail "a full install differs from sdk + gateway + cli"; }
cmake --install "$build_dir" --component Unspecified --prefix "$work/unspecified" >/dev/null
[ -z "$(files_in "$work/unspecified" 2>/dev/null || true)" ] || fail "files installed without a COMPONENT"
echo "ok: every installed file belongs to sdk, gateway or cli"

# Stripped and small: the binaries carry no symbols; the archives no debug information.
for bin in "$work/gateway/$bindir/kpg-gateway" "$work/cli/$bindir/kpg"; do
  file -b "$bin" | grep -q ', stripped' || fail "$(basename "$bin") is not stripped: $(file -b "$bin")"
  [ -x "$bin" ] || fail "$bin is not executable"
  "$bin" --version | grep -qx "$(basename "$bin") [0-9.]*" || fail "$bin --version"
done
size="$(stat -c %s "$work/gateway/$bindir/kpg-gateway")"
[ "$size" -le "$max_gateway" ] || fail "installed kpg-gateway is $size bytes (bound $max_gateway)"
echo "ok: kpg-gateway stripped, $size bytes (bound $max_gateway); kpg stripped"
for lib in "$work/sdk/$libdir"/*.a; do
  if objdump -h "$lib" | grep -q '\.debug_'; then fail "$(basename "$lib") keeps debug sections"; fi
done
echo "ok: SDK archives without debug sections"

# The installed example configuration is one the installed gateway accepts (ports and data
# directory aside, which a test cannot take from it).
gateway_start "$work/gateway.log" "$work/gateway/$bindir/kpg-gateway" \
  --config "$work/gateway/$datadir/kpg/gateway.example.yaml" \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir "$work/kpg-data" ||
  fail "the installed gateway did not start from the installed example config"
echo "ok: the installed gateway starts from the installed example config"
