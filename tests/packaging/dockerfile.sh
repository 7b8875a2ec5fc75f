#!/usr/bin/env bash
# packaging/Dockerfile cannot be built here (no container engine); this checks what can be
# checked without one:
#  - the build stage installs only packages tools/install-deps installs (so CI builds with them);
#  - every shared library the built kpg-gateway and kpg link directly is provided by a
#    package the runtime stage installs, or by one every Debian image has (libc6, libstdc++6,
#    libgcc-s1); those packages are installed here, so their names and sonames are bookworm's;
#  - the ports it EXPOSEs are the example configuration's, it runs as a non-root USER, and every
#    file it COPYs from the source tree exists.
#   dockerfile.sh SOURCE_DIR GATEWAY_BIN TAIL_BIN
set -euo pipefail
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[ $# -eq 3 ] || { usage >&2; exit 2; }
source_dir="$1" gateway_bin="$2" tail_bin="$3"
dockerfile="$source_dir/packaging/Dockerfile"
fail() { echo "FAILED: $*" >&2; exit 1; }

# The packages of stage N's `apt-get install` (continuation lines joined).
stage_packages() {
  awk -v n="$1" '/^FROM /{stage++} stage==n' "$dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
    grep -o 'apt-get install [^&]*' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
    grep -vx -e apt-get -e install | LC_ALL=C sort -u
}
build_packages="$(stage_packages 1)"
runtime_packages="$(stage_packages 2)"
[ -n "$build_packages" ] && [ -n "$runtime_packages" ] || fail "no apt-get install found in both stages"
[ "$(grep -c '^FROM ' "$dockerfile")" -eq 2 ] || fail "expected two stages (build, runtime)"

deps_packages="$(sed -n '/^packages=(/,/^)/p' "$source_dir/tools/install-deps" | sed 's/#.*//' |
  tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | LC_ALL=C sort -u)"
missing="$(LC_ALL=C comm -23 <(echo "$build_packages") <(echo "$deps_packages"))"
[ -z "$missing" ] || fail "the build stage installs packages tools/install-deps does not: $missing"
echo "ok: build stage: $(wc -l <<<"$build_packages") packages, all in tools/install-deps"

provided="$runtime_packages
libc6
libstdc++6
libgcc-s1"
for p in $runtime_packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    fail "runtime package $p is not a bookworm package installed here"
done
for bin in "$gateway_bin" "$tail_bin"; do
  for soname in $(objdump -p "$bin" | awk '$1 == "NEEDED" {print $2}'); do
    path="$(ldd "$bin" | awk -v s="$soname" '$1 == s {print $3}')"
    [ -n "$path" ] || fail "$soname of $(basename "$bin") does not resolve here"
    real="$(readlink -f "$path")"
    owner=""
    for candidate in "$path" "$real" "/usr${real#/usr}" "${real#/usr}"; do
      owner="$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1)" && [ -n "$owner" ] && break
    done
    [ -n "$owner" ] || fail "no package owns $real ($soname)"
    grep -qx "$owner" <<<"$provided" ||
      fail "$(basename "$bin") needs $soname from $owner, which the runtime stage does not install"
  done
done
echo "ok: runtime stage provides every library kpg-gateway and kpg link"

ports="$(sed -n 's/^\(admin_\)\{0,1\}listen: .*:\([0-9]*\)$/\2/p' "$source_dir/packaging/gateway.example.yaml" | sort -n | xargs)"
exposed="$(sed -n 's/^EXPOSE //p' "$dockerfile" | tr ' ' '\n' | sort -n | xargs)"
[ -n "$ports" ] && [ "$ports" = "$exposed" ] || fail "EXPOSE '$exposed' but the example config listens on '$ports'"
user="$(sed -n 's/^USER //p' "$dockerfile" | tail -n 1)"
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the image must run as a non-root USER (got '$user')"
while read -r src; do
  [ -e "$source_dir/$src" ] || fail "COPY $src: not in the source tree"
done < <(grep '^COPY ' "$dockerfile" | grep -v -- '--from=' | awk '{print $2}' | grep -vx '\.')
for excluded in build/ .git/; do
  grep -qx "$excluded" "$source_dir/packaging/Dockerfile.dockerignore" ||
    fail "packaging/Dockerfile.dockerignore does not exclude $excluded"
done
echo "ok: EXPOSE $exposed, USER $user, COPY sources present"
