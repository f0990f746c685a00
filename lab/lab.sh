#!/usr/bin/env bash
# The lab fleet: Debian VMs under QEMU, reachable only on 127.0.0.1.
#   lab/lab.sh up [N]   boot N VMs (default 2) from the cached images, wait for SSH, and write
#                       stacks/Pulumi.lab.yaml describing them
#   lab/lab.sh down     stop the VMs this lab started (by their pid files)
#   lab/lab.sh status   list the VMs and whether SSH answers
#   lab/lab.sh manager N VARIANT
#                       hand VM N's network to one network manager (lab/manager.sh)
# Env: HOSTTUNE_LAB_DIR (default <repo>/.lab), HOSTTUNE_LAB_PORT (first SSH port, default 10022),
#      HOSTTUNE_LAB_RELEASES (Debian release per VM, in order: "bookworm trixie" makes vm1
#      bookworm and vm2 trixie, the last one repeating for further VMs; default bookworm),
#      HOSTTUNE_LAB_IMAGE (an image dir to boot for every VM instead of those lab/image.sh builds),
#      HOSTTUNE_LAB_STACK (the stack whose config `up` writes, default lab; empty: none), with
#      the tuning from lab/tuning-<stack>.yaml (else lab/tuning-lab.yaml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
lab=$(realpath -m "${HOSTTUNE_LAB_DIR:-$repo/.lab}")
port0=${HOSTTUNE_LAB_PORT:-10022}

ssh_opts() { # $1 = vm dir
  echo -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$lab/known_hosts" \
       -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=6 -o LogLevel=ERROR -i "$lab/id_ed25519" -p "$(cat "$1/port")"
}
alive() { [ -f "$1/vm.pid" ] && kill -0 "$(cat "$1/vm.pid")" 2>/dev/null; }
ssh_ok() { ssh $(ssh_opts "$1") root@127.0.0.1 true 2>/dev/null; }

boot() { # $1 = index, $2 = image dir
  local i=$1 img=$2 d="$lab/vm$1" port=$((port0 + $1 - 1))
  mkdir -p "$d"
  if alive "$d"; then echo "lab: vm$i already running (pid $(cat "$d/vm.pid"))" >&2; return; fi
  rm -f "$d"/overlay.qcow2 "$d"/disk*.qcow2 "$d"/console.log
  qemu-img create -q -f qcow2 -F qcow2 -b "$img/base.qcow2" "$d/overlay.qcow2"
  # Two small extra disks for BfqScheduler's property matching: a rotational one on the AHCI
  # controller and a non-rotational (rotation_rate=1) SCSI one.
  qemu-img create -q -f qcow2 "$d/disk2.qcow2" 256M
  qemu-img create -q -f qcow2 "$d/disk3.qcow2" 256M
  # Each VM gets its own host key (pinned below), so host-key checking means something.
  [ -f "$d/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C "vm$i" -f "$d/host_key"
  echo "$port" > "$d/port"
  cat "$img/release" > "$d/release" 2>/dev/null || echo unknown > "$d/release"
  printf 'vm%s' "$i" > "$d/hostname"
  qemu-system-x86_64 -name "hosttune-lab-vm$i" -machine q35 -accel tcg,tb-size=256 -cpu max -m 1024 -smp 1 \
    -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append 'root=/dev/vda rw console=ttyS0 quiet' \
    -drive "file=$d/overlay.qcow2,if=virtio,format=qcow2" \
    -drive "file=$d/disk2.qcow2,if=none,id=disk2,format=qcow2" -device ide-hd,drive=disk2,bus=ide.1,serial=hosttune-disk2 \
    -device virtio-scsi-pci,id=scsi0 \
    -drive "file=$d/disk3.qcow2,if=none,id=disk3,format=qcow2" -device scsi-hd,drive=disk3,bus=scsi0.0,rotation_rate=1,serial=hosttune-disk3 \
    -nic "user,model=virtio-net-pci,mac=52:54:00:12:34:56,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
    -nic "user,model=e1000e,mac=52:54:00:12:34:57,restrict=on" \
    -fw_cfg "name=opt/hosttune/host_key,file=$d/host_key" \
    -fw_cfg "name=opt/hosttune/authorized_key,file=$lab/id_ed25519.pub" \
    -fw_cfg "name=opt/hosttune/hostname,file=$d/hostname" \
    -display none -serial "file:$d/console.log" -pidfile "$d/vm.pid" -daemonize
}

wait_ssh() { # $1 = vm dir
  local t0=$SECONDS
  until ssh_ok "$1"; do
    alive "$1" || { echo "lab: $(basename "$1") died while booting; see $1/console.log" >&2; return 1; }
    [ $((SECONDS - t0)) -lt 300 ] || { echo "lab: $(basename "$1") not reachable over SSH after 300s; see $1/console.log" >&2; return 1; }
    sleep 2
  done
}

write_stack() {
  local stack=${HOSTTUNE_LAB_STACK-lab}
  [ -n "$stack" ] || return 0
  local f="$repo/stacks/Pulumi.$stack.yaml" salt=""
  mkdir -p "$repo/stacks"
  [ -f "$f" ] && salt=$(grep '^encryptionsalt:' "$f" || true)
  {
    echo "# Written by lab/lab.sh up: the running lab fleet (host keys pinned per VM)."
    [ -n "$salt" ] && echo "$salt"
    echo "config:"
    echo "  hosttune:privateKeyPath: $lab/id_ed25519"
    echo "  hosttune:hosts:"
    for d in "$lab"/vm*; do
      alive "$d" || continue
      echo "    - name: $(basename "$d")"
      echo "      host: 127.0.0.1"
      echo "      port: $(cat "$d/port")"
      echo "      user: root"
      echo "      hostKey: $(cut -d' ' -f1-2 "$d/host_key.pub")"
    done
    local tuning="$here/tuning-$stack.yaml"
    [ -f "$tuning" ] || tuning="$here/tuning-lab.yaml"
    sed -n 's/^/  /p' "$tuning"
  } > "$f.tmp"
  mv "$f.tmp" "$f"
}

cmd=${1:-status}
case "$cmd" in
  up)
    n=${2:-2}
    read -r -a releases <<<"${HOSTTUNE_LAB_RELEASES:-bookworm}"
    [ "${#releases[@]}" -gt 0 ] || releases=(bookworm)
    declare -A images=()
    for r in "${releases[@]}"; do images[$r]=${HOSTTUNE_LAB_IMAGE:-$("$here/image.sh" "$r")}; done
    mkdir -p "$lab"
    [ -f "$lab/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C hosttune-lab -f "$lab/id_ed25519"
    t0=$SECONDS
    for i in $(seq 1 "$n"); do
      r=${releases[$((i <= ${#releases[@]} ? i - 1 : ${#releases[@]} - 1))]}
      boot "$i" "${images[$r]}"
    done
    : > "$lab/known_hosts"
    for i in $(seq 1 "$n"); do echo "[127.0.0.1]:$((port0 + i - 1)) $(cut -d' ' -f1-2 "$lab/vm$i/host_key.pub")" >> "$lab/known_hosts"; done
    for i in $(seq 1 "$n"); do wait_ssh "$lab/vm$i"; done
    echo "lab: $n VM(s) reachable over SSH after $((SECONDS - t0))s" >&2
    write_stack
    ;;
  down)
    for d in "$lab"/vm*; do
      [ -d "$d" ] || continue
      if alive "$d"; then kill "$(cat "$d/vm.pid")"; echo "lab: stopped $(basename "$d")" >&2; fi
      rm -f "$d/vm.pid"
    done
    ;;
  status)
    for d in "$lab"/vm*; do
      [ -d "$d" ] || continue
      s=stopped; alive "$d" && { s=running; ssh_ok "$d" && s="running, ssh ok"; }
      echo "$(basename "$d") 127.0.0.1:$(cat "$d/port") $(cat "$d/release" 2>/dev/null || echo unknown) $s"
    done
    ;;
  ssh)
    d="$lab/vm${2:?vm number}"; shift 2
    exec ssh $(ssh_opts "$d") root@127.0.0.1 "$@"
    ;;
  manager)
    # Hands the VM's network to one manager (lab/manager.sh): run detached on the VM, since it
    # resets the interface that carries this SSH connection, then waited for over a fresh one.
    # KillMode=process: the DHCP client ifup starts outlives the unit, as under networking.service
    # (else it died with the unit, the lease expired and DNS had no server).
    d="$lab/vm${2:?vm number}"; variant=${3:?variant}
    ssh $(ssh_opts "$d") root@127.0.0.1 "cat > /run/hosttune-lab-manager.sh && rm -f /var/log/hosttune-lab-manager.log &&
      systemd-run --quiet -p KillMode=process --unit=hosttune-lab-manager-\$(date +%s) sh -c 'sh /run/hosttune-lab-manager.sh $variant > /var/log/hosttune-lab-manager.log 2>&1; echo \$? >> /var/log/hosttune-lab-manager.log'" < "$here/manager.sh"
    t0=$SECONDS
    until out=$(ssh $(ssh_opts "$d") root@127.0.0.1 'cat /var/log/hosttune-lab-manager.log 2>/dev/null') && [ -n "$out" ] && echo "$out" | tail -1 | grep -qx '[0-9]*'; do
      [ $((SECONDS - t0)) -lt 300 ] || { echo "lab: $(basename "$d"): manager $variant did not finish in 300s" >&2; exit 1; }
      sleep 2
    done
    echo "$out" | sed '$d' >&2
    [ "$(echo "$out" | tail -1)" = 0 ] || { echo "lab: $(basename "$d"): manager $variant failed" >&2; exit 1; }
    ;;
  *) echo "usage: lab/lab.sh up [N] | down | status | ssh N [cmd] | manager N VARIANT" >&2; exit 2 ;;
esac
