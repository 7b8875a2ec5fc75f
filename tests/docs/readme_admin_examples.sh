#!/usr/bin/env bash
# The README's admin API examples work verbatim (ports and the key file's path aside): runs the
# README's curl block against a real kpg-gateway and checks every answer.
#   tests/docs/readme_admin_examples.sh GATEWAY_BIN README
set -euo pipefail
usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[ $# -eq 2 ] || { usage >&2; exit 2; }
gateway_bin="$1"
readme="$2"
work="$(mktemp -d)"
# shellcheck source=../support/gateway.sh
. "$(dirname "$0")/../support/gateway.sh"
trap 'gateway_stop; rm -rf "$work"' EXIT

gateway_start "$work/gateway.log" "$gateway_bin" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --data-dir "$work/kpg-data"
admin="$(grep -o 'event=admin_listening address=[^ ]*' "$work/gateway.log" | cut -d= -f3)"

# The Nth block that starts with KEY=$(cat kpg-data/admin.key), up to its closing fence.
nth_block() {
  awk -v n="$1" '/^KEY=\$\(cat kpg-data\/admin.key\)/{if (++seen == n) f=1} f&&/^```$/{exit} f{print}' "$readme"
}
block="$(nth_block 1)"
[ -n "$block" ] || { echo "admin example block not found in $readme"; exit 1; }
printf '%s\n' "$block" | grep -q "curl -X PUT" || { echo "no PUT example found"; exit 1; }

# Every curl of the block goes through `checked`: it must answer 2xx without an error_msg.
calls=0
checked() {
  calls=$((calls + 1))
  local out code
  out="$(curl -sS -w '\n%{http_code}' "$@")"
  code="${out##*$'\n'}"
  if [ "${code:0:1}" != 2 ] || grep -q '"error_msg"' <<<"${out%$'\n'*}"; then
    echo "FAILED: curl $* -> HTTP $code ${out%$'\n'*}"
    exit 1
  fi
  echo "ok: HTTP $code ${out%$'\n'*}" | cut -c1-160
}
run_block() {
  local script
  script="$(printf '%s\n' "$1" |
    sed -e "s|127.0.0.1:9180|$admin|g" -e "s|kpg-data/admin.key|$work/kpg-data/admin.key|g" \
        -e 's|^curl |checked |')"
  eval "$script"
}
run_block "$block"
[ "$calls" -eq 6 ] || { echo "expected 6 curl examples, ran $calls"; exit 1; }

# What the examples did, seen through the API: kafka deleted, kafka-secure and the POSTed one
# remain, the SASL password masked.
KEY="$(cat "$work/kpg-data/admin.key")"
list="$(curl -sS "http://$admin/apisix/admin/routes" -H "X-API-KEY: $KEY")"
grep -q '"total":2' <<<"$list" || { echo "expected 2 routes: $list"; exit 1; }
grep -q '"password":"\*\*\*\*\*\*"' <<<"$list" || { echo "password not masked: $list"; exit 1; }

# The consumers block: two consumers with key-auth / jwt-auth (one with an RS256 public key read
# from carol-public.pem), and routes requiring each plugin.
consumers="$(nth_block 2)"
[ -n "$consumers" ] || { echo "consumers example block not found in $readme"; exit 1; }
cp "$(dirname "$0")/../data/jwt/rs256-public.pem" "$work/carol-public.pem"
(cd "$work" && run_block "$consumers")
calls=$((calls + $(grep -c '^curl ' <<<"$consumers")))
[ "$calls" -eq 11 ] || { echo "expected 5 consumer curl examples, ran $((calls - 6))"; exit 1; }
carol="$(curl -sS "http://$admin/apisix/admin/consumers/carol" -H "X-API-KEY: $KEY")"
grep -q '"algorithm":"RS256"' <<<"$carol" || { echo "carol not stored: $carol"; exit 1; }
grep -q 'BEGIN PUBLIC KEY' <<<"$carol" || { echo "carol's public key not stored: $carol"; exit 1; }
alice="$(curl -sS "http://$admin/apisix/admin/consumers/alice" -H "X-API-KEY: $KEY")"
grep -q '"key":"\*\*\*\*\*\*"' <<<"$alice" || { echo "alice's key not masked: $alice"; exit 1; }

# The topic ACL / origin block: a route with a topic ACL and one with an origin allow-list.
security="$(nth_block 3)"
[ -n "$security" ] || { echo "security example block not found in $readme"; exit 1; }
run_block "$security"
[ "$calls" -eq 13 ] || { echo "expected 2 security curl examples, ran $((calls - 11))"; exit 1; }
acl="$(curl -sS "http://$admin/apisix/admin/routes/kafka-acl" -H "X-API-KEY: $KEY")"
grep -q '"topics":\["orders","metrics.\*"\]' <<<"$acl" || { echo "no topic ACL stored: $acl"; exit 1; }
web="$(curl -sS "http://$admin/apisix/admin/routes/kafka-web" -H "X-API-KEY: $KEY")"
grep -q '"allow_origins":"https://app.example.com,https://admin.example.com"' <<<"$web" ||
  { echo "no origin allow-list stored: $web"; exit 1; }
# The pinned filter block: a jwt-auth route whose reads are filtered by the token's claim.
pinned="$(nth_block 4)"
[ -n "$pinned" ] || { echo "pinned filter example block not found in $readme"; exit 1; }
run_block "$pinned"
[ "$calls" -eq 14 ] || { echo "expected 1 pinned filter curl example, ran $((calls - 13))"; exit 1; }
tenant="$(curl -sS "http://$admin/apisix/admin/routes/kafka-tenant" -H "X-API-KEY: $KEY")"
grep -q '"filter":\[{"equals":{"claim":"tenant"},"header":"tenant"}\]' <<<"$tenant" ||
  { echo "pinned filter not stored: $tenant"; exit 1; }
# The limits block: limit-conn and limit-count on one route.
limits="$(nth_block 5)"
[ -n "$limits" ] || { echo "limits example block not found in $readme"; exit 1; }
run_block "$limits"
[ "$calls" -eq 15 ] || { echo "expected 1 limits curl example, ran $((calls - 14))"; exit 1; }
limited="$(curl -sS "http://$admin/apisix/admin/routes/kafka-limited" -H "X-API-KEY: $KEY")"
grep -q '"limit-conn":{' <<<"$limited" && grep -q '"limit-count":{' <<<"$limited" ||
  { echo "limits not stored: $limited"; exit 1; }
echo "README admin examples: $calls calls, all answered as documented"
