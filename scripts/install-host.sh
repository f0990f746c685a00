#!/usr/bin/env bash
# Installs what hosttune's lab and tests need on this machine, only what is missing:
# Debian packages (QEMU, debootstrap, ssh client, sshd for the transport's unit tests and the
# fleet tests, udev and PostgreSQL for the fleet tests, headless Chromium to open the report page
# as a person would, bpftrace and perf for the napi_poll measurement's unit tests), npm dependencies, the compiled project and the offline Pulumi toolchain.
# Safe to run again.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
need=()
for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils debootstrap:debootstrap ssh:openssh-client \
            ssh-keygen:openssh-client sshd:openssh-server mkfs.ext4:e2fsprogs flock:util-linux \
            chromium:chromium bpftrace:bpftrace perf:linux-perf; do
  # sbin is not on every user's PATH.
  command -v "${pair%%:*}" >/dev/null || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
# The fleet tests: a udevd per sshd host, and a PostgreSQL cluster of their own (a shared backend).
[ -x /lib/systemd/systemd-udevd ] || need+=(udev)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "install: apt-get install ${need[*]}" >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# apt-cache must know the kernel packages the image pins.
apt-cache show linux-image-amd64 >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get update -qq; }
cd "$repo"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "install: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
# Compiled only when a source is newer than the output: a second run (command 1 beside a test
# run) must not rewrite dist/ under a running provider.
if [ ! -f dist/lib.js ] || [ -n "$(find index.ts lib.ts fleet providers bench report tsconfig.json package.json -newer dist/lib.js -print -quit)" ]; then
  npx tsc -p .
fi
bash scripts/toolchain.sh >/dev/null
