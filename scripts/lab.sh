#!/usr/bin/env bash
# README command 1: install what is missing, boot the lab fleet, and converge it with a real
# `pulumi up` of the lab stack. Leaves the VMs running (lab/lab.sh down stops them).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/install-host.sh
# vm1 Debian 12, vm2 Debian 13: the supported releases side by side.
HOSTTUNE_LAB_RELEASES=${HOSTTUNE_LAB_RELEASES:-bookworm trixie} bash lab/lab.sh up "${HOSTTUNE_LAB_VMS:-2}"
# bin/pulumi is the Pulumi CLI with this project's defaults (see the README). The stack is lab/lab.sh's
# (HOSTTUNE_LAB_STACK, as for a second environment), so each lab dir converges its own stack.
stack=${HOSTTUNE_LAB_STACK:-lab}
bin/pulumi stack select --create --stack "$stack" --non-interactive
bin/pulumi up --yes --stack "$stack" --non-interactive
echo
echo "lab: converged. Try: export PATH=\"$repo/bin:\$PATH\"; pulumi preview --stack $stack   (drift shows here)"
echo "     lab/lab.sh ssh 1 sysctl net.core.default_qdisc; lab/lab.sh down when done"
