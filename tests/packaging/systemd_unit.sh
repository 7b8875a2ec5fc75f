#!/usr/bin/env bash
# The installed systemd unit passes `systemd-analyze verify` (unknown keys, bad values, a missing
# ExecStart binary all fail) in a DESTDIR install of the gateway component, and runs the
# installed gateway with the installed prefix's paths.
#   systemd_unit.sh BUILD_DIR FULL_BINDIR FULL_SYSCONFDIR UNITDIR
#
# verify runs with --root=DESTDIR so that ExecStart's absolute path is looked up in the install
# tree; the units it pulls in (multi-user.target, network-online.target, ...) are copied there
# from this machine. It needs no running systemd, so it works in a container.
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[ $# -eq 4 ] || { usage >&2; exit 2; }
build_dir="$1" bindir="$2" sysconfdir="$3" unitdir="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (tools/install-deps installs systemd)"

root="$work/root"
prefix="$(cmake -L -N "$build_dir" 2>/dev/null | sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p')"
DESTDIR="$root" cmake --install "$build_dir" --component gateway --strip >/dev/null
case "$unitdir" in /*) unit="$root$unitdir/kpg-gateway.service" ;; *) unit="$root$prefix/$unitdir/kpg-gateway.service" ;; esac
[ -f "$unit" ] || fail "no unit at $unit"

exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
[ "$exec_start" = "$bindir/kpg-gateway --config $sysconfdir/kpg/gateway.yaml --data-dir /var/lib/kpg" ] ||
  fail "ExecStart is '$exec_start'"
for key in DynamicUser=yes StateDirectory=kpg ProtectSystem=strict NoNewPrivileges=yes; do
  grep -qx "$key" "$unit" || fail "the unit lacks $key"
done

mkdir -p "$root/usr/lib/systemd"
for dir in /usr/lib/systemd/system /lib/systemd/system; do
  if [ -d "$dir" ]; then cp -r "$dir" "$root/usr/lib/systemd/"; break; fi
done
# Any output is a finding (systemd-analyze prints warnings but still exits 0 for most of them).
out="$(systemd-analyze verify --root="$root" "kpg-gateway.service" 2>&1)" || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "ok: systemd-analyze verify $(basename "$unit"): no findings"

# The hardening, as systemd rates it (0 = fully confined, 10 = unconfined).
exposure="$(systemd-analyze security --offline=yes --root="$root" kpg-gateway.service 2>&1 |
  sed -n 's/.*Overall exposure level for kpg-gateway.service: \([0-9.]*\).*/\1/p')"
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure level $exposure (want <= 2.0)"
echo "ok: systemd-analyze security: exposure $exposure"
