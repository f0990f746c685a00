#!/usr/bin/env bash
# README command 2: every test. Unit tests first (no VMs), then the fleet tests (the real CLI on
# real sshd hosts of this machine, no VMs), then the e2e suite, which boots its own lab VMs
# (test/e2e/globalSetup.ts) and drives the real Pulumi CLI against them, with the files that
# boot a lab of their own (test/ownlab) running beside it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/install-host.sh
npx vitest run --project unit
npx vitest run --project fleet
npx vitest run --project e2e --project ownlab
