#!/usr/bin/env bash
# The gateway's layers include only downwards (config <- kafka <- pubsub <- server <- admin, and
# config <- store <- server for etcd), the composition root (the files directly in the source
# dir) is above them all, and only kafka/ includes librdkafka. Prints every violation; exits 1
# when there is one.
#
#   check_layers.sh GATEWAY_SRC_DIR
set -euo pipefail
case "${1:-}" in
  -h|--help|"") sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ]; exit $? ;;
esac
src="$1"
declare -A allowed=(
  [config]="config"
  [kafka]="config kafka"
  [store]="config store"
  [pubsub]="config kafka pubsub"
  [server]="config kafka pubsub store server"
  [admin]="config kafka pubsub store server admin"
)
# pubsub and server may use only the kafka layer's interfaces, never its implementation.
kafka_api="kafka/record_source.h kafka/record_sink.h kafka/kafka_client.h kafka/topic_name.h
  kafka/observer.h kafka/group_consumer.h"
status=0
for layer in "${!allowed[@]}"; do
  while IFS= read -r line; do
    file="${line%%:*}"
    included="$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")"
    target="${included%%/*}"
    if [ "$target" = "$included" ]; then
      if [ -f "$src/$included" ]; then
        echo "layering: $file includes $included (the composition root is above every layer)"
        status=1
      fi
      continue  # not a gateway header
    fi
    if ! grep -qw "$target" <<<"${allowed[$layer]}"; then
      echo "layering: $file includes $included ($layer may include only: ${allowed[$layer]})"
      status=1
    elif [ "$target" = kafka ] && [ "$layer" != kafka ] && ! grep -qw "$included" <<<"$kafka_api"; then
      echo "layering: $file includes $included (above kafka/ only its interfaces: $kafka_api)"
      status=1
    fi
  done < <(grep -rn '#include "' "$src/$layer" --include='*.h' --include='*.cpp' || true)
done
while IFS= read -r line; do
  echo "layering: ${line%%:*} includes librdkafka (only kafka/ may)"
  status=1
done < <(grep -rln 'librdkafka/' "$src" --include='*.h' --include='*.cpp' | grep -v "^$src/kafka/" || true)
[ "$status" = 0 ] && echo "layering: ok"
exit "$status"
