#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its seed corpus.
#   run.sh FUZZER SEED_DIR OUT_DIR
# KPG_FUZZ_SECONDS (default 45) bounds the run. New inputs go to OUT_DIR/corpus (the checked-in
# seeds are never written); a crashing input is saved as OUT_DIR/crash-* and the run fails.
set -euo pipefail
fuzzer=$1 seeds=$2 out=$3
seconds=${KPG_FUZZ_SECONDS:-45}
mkdir -p "$out/corpus"
echo "fuzzing $(basename "$fuzzer") for ${seconds}s; crashes go to $out/"
# -timeout: an input taking over 10 s is a hang; -rss_limit_mb: growth past 2 GiB is a finding.
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$out/" "$out/corpus" "$seeds"
