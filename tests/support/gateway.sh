# Sourced by the shell tests that run a real kpg-gateway:
#   gateway_start LOG COMMAND...   runs COMMAND in the background, output to LOG, and waits (10 s at
#                                  most) until it logs event=admin_listening; fails with the log
#   gateway_stop                   stops it and reaps it (call it from the EXIT trap)
gateway_pid=""
gateway_stop() {
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
    gateway_pid=""
  fi
}
gateway_start() {
  local log="$1"
  shift
  "$@" >"$log" 2>&1 &
  gateway_pid=$!
  for _ in $(seq 1 100); do
    grep -q "event=admin_listening" "$log" && return 0
    kill -0 "$gateway_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "gateway did not start:" >&2
  cat "$log" >&2
  return 1
}
