#!/usr/bin/env bash
# Fleet-scale measurements (bench/preview.ts) on their own lab VMs (.lab/bench).
# Env: HOSTTUNE_BENCH_VMS (default 3), HOSTTUNE_BENCH_PER_HOST (resources per host, default 3),
#      HOSTTUNE_BENCH_KEEP=1 to leave the VMs running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/install-host.sh
export HOSTTUNE_LAB_DIR="$repo/.lab/bench" HOSTTUNE_LAB_PORT=10222 HOSTTUNE_LAB_STACK=""
bash lab/lab.sh up "${HOSTTUNE_BENCH_VMS:-3}"
trap '[ "${HOSTTUNE_BENCH_KEEP:-}" = 1 ] || bash lab/lab.sh down' EXIT
node dist/bench/preview.js "$HOSTTUNE_LAB_DIR" "${HOSTTUNE_BENCH_PER_HOST:-3}"
