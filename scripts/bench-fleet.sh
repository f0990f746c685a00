#!/usr/bin/env bash
# `npm run bench:fleet`: hosttune vs Ansible vs the floor on a fleet of real sshd hosts on this
# machine (bench/fleet.ts). Installs what it lacks: Debian's udev (a udevd per host) and ansible,
# and toxiproxy (Go module, built once into the cache) for the latency runs.
# Env: HOSTTUNE_BENCH_SIZES (10,50,200), HOSTTUNE_BENCH_ROUNDS (3), HOSTTUNE_BENCH_LATENCY (0,20),
#      HOSTTUNE_BENCH_OUT (.hosttune/bench-fleet), HOSTTUNE_BENCH_ARGS (more options: see bench/fleet.ts).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/install-host.sh
missing=()
[ -x /lib/systemd/systemd-udevd ] || missing+=(udev)
command -v ansible-playbook >/dev/null || missing+=(ansible)
command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
cache=${HOSTTUNE_CACHE:-$HOME/.cache/hosttune}
toxi=$cache/toxiproxy-2.5.0/toxiproxy-server
if [ ! -x "$toxi" ]; then
  src=$(mktemp -d)
  (cd "$src" && go mod init hosttune-bench-toxiproxy >/dev/null 2>&1 &&
    go get github.com/Shopify/toxiproxy/v2@v2.5.0 >/dev/null 2>&1 &&
    go build -o "$toxi" github.com/Shopify/toxiproxy/v2/cmd/server)
  rm -rf "$src"
fi
out=${HOSTTUNE_BENCH_OUT:-$repo/.hosttune/bench-fleet}
exec node dist/bench/fleet.js "$out" --sizes "${HOSTTUNE_BENCH_SIZES:-10,50,200}" ${HOSTTUNE_BENCH_ARGS:-} \
  --rounds "${HOSTTUNE_BENCH_ROUNDS:-3}" --latency "${HOSTTUNE_BENCH_LATENCY:-0,20}" --toxiproxy "$toxi"
