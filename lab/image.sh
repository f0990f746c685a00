#!/usr/bin/env bash
# Builds a lab VM image of a Debian release (bookworm = 12, trixie = 13; argument or
# HOSTTUNE_LAB_RELEASE, default bookworm) with debootstrap from this machine's configured Debian
# mirror, plus netdevsim built from Debian's kernel source for the image's exact kernel.
# Cached under ~/.cache/hosttune/lab/image-<key>/, keyed by this recipe, the guest files, the
# release and its kernel version; rebuilt only when missing. Prints the image dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${HOSTTUNE_CACHE:-$HOME/.cache/hosttune}
release=${1:-${HOSTTUNE_LAB_RELEASE:-bookworm}}
case "$release" in bookworm | trixie) ;; *) echo "lab image: unsupported release '$release' (bookworm or trixie)" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "lab image: debootstrap needs root" >&2; exit 1; }
for t in debootstrap qemu-img mkfs.ext4 apt-get; do command -v "$t" >/dev/null || { echo "lab image: $t missing (run lab/install-host.sh)" >&2; exit 1; }; done

# The same Debian mirror for every release: the one this machine's apt uses for its own suites.
mirror=$("$here/mirror.sh" | awk '$1 == "bookworm" || $1 == "trixie" {print $2; exit}')
security=$("$here/mirror.sh" | awk '$1 == "bookworm-security" || $1 == "trixie-security" {print $2; exit}')
[ -n "$mirror" ] || { echo "lab image: no Debian source in this machine's apt configuration" >&2; exit 1; }
sources() {
  echo "deb $mirror $release main"; echo "deb $mirror $release-updates main"
  [ -z "$security" ] || echo "deb $security $release-security main"
}
# The kernel the image gets: the release's newest linux-image-amd64, pinned by ABI name and
# version so the netdevsim module matches it exactly. A private apt state per release, since
# this machine's own apt may track another release.
apt_dir="$cache/lab/apt-$release"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
sources > "$apt_dir/sources.list"
lab_apt() {
  local tool=$1; shift
  "$tool" -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir" -o Dir::State::status=/dev/null \
    -o APT::Architecture=amd64 -o APT::Architectures=amd64 "$@"
}
# Offline with lists from an earlier run: keep them (the cached image stays usable).
lab_apt apt-get update -qq -o APT::Update::Error-Mode=any >"$apt_dir/update.log" 2>&1 ||
  { ls "$apt_dir"/lists/*_Packages* >/dev/null 2>&1 || { cat "$apt_dir/update.log" >&2; exit 1; }; }
kabi=$(lab_apt apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
kver=$(lab_apt apt-cache policy "$kabi" 2>/dev/null | awk '/Candidate:/{print $2}')
[ -n "$kabi" ] && [ -n "$kver" ] || { echo "lab image: cannot resolve $release's linux-image-amd64" >&2; exit 1; }
kuname=${kabi#linux-image-}
key=$( (cat "$0" "$here"/guest/*; echo "$release $kabi $kver") | sha256sum | cut -c1-16)
out="$cache/lab/image-$key"
if [ -f "$out/base.qcow2" ]; then echo "$out"; exit 0; fi

work=$(mktemp -d "$cache/lab/build.XXXX" 2>/dev/null || { mkdir -p "$cache/lab"; mktemp -d "$cache/lab/build.XXXX"; })
root="$work/rootfs"
# Unmount before removing, and never let rm cross into a mount that failed to unmount.
cleanup() {
  for m in dev/pts dev proc sys; do umount "$root/$m" 2>/dev/null || true; umount "$work/build/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
echo "lab image: debootstrap $release ($kabi $kver) into $root" >&2
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,openssh-server,iproute2,ethtool,kmod,procps,sudo,dbus,systemd-resolved,iputils-ping,tcpdump,less \
  "$release" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
sources > "$root/etc/apt/sources.list"
mount --bind /dev "$root/dev"; mount --bind /dev/pts "$root/dev/pts"; mount -t proc proc "$root/proc"; mount -t sysfs sys "$root/sys"
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
# initramfs: MODULES=dep fails in a chroot; an explicit list keeps it small and bootable.
mkdir -p "$root/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/hosttune.conf"
printf '%s\n' virtio_pci virtio_blk virtio_scsi ext4 crc32c_generic > "$root/etc/initramfs-tools/modules"
# systemd-resolved made resolv.conf a stub link; use the build machine's resolver while building.
rm -f "$root/etc/resolv.conf"; cp -L /etc/resolv.conf "$root/etc/resolv.conf"
in_root apt-get update -qq -o APT::Update::Error-Mode=any
in_root apt-get install -y -qq --no-install-recommends "$kabi=$kver" initramfs-tools zstd >"$work/kernel.log" 2>&1 || { tail -20 "$work/kernel.log" >&2; exit 1; }

# netdevsim is not enabled in Debian's kernels: build it out of tree from Debian's source of
# this exact kernel, in a throwaway copy of the root so the image carries no compiler.
echo "lab image: building netdevsim for $kuname" >&2
cp -ax "$root" "$work/build"
for m in dev dev/pts proc sys; do mount --bind "/$m" "$work/build/$m"; done
srcpkg="linux-source-$(echo "$kver" | cut -d. -f1-2)"
chroot "$work/build" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "linux-headers-$kuname=$kver" "$srcpkg=$kver" gcc make xz-utils >"$work/headers.log" 2>&1 || { tail -20 "$work/headers.log" >&2; exit 1; }
chroot "$work/build" sh -euc "
  cd /usr/src && tar -xaf linux-source-*.tar.* --wildcards '*/drivers/net/netdevsim/*'
  cd /usr/src/linux-source-*/drivers/net/netdevsim
  make -s -C /lib/modules/$kuname/build M=\$PWD CONFIG_NETDEVSIM=m modules" >"$work/netdevsim.log" 2>&1 || { tail -30 "$work/netdevsim.log" >&2; exit 1; }
install -D -m 0644 "$work"/build/usr/src/linux-source-*/drivers/net/netdevsim/netdevsim.ko "$root/lib/modules/$kuname/extra/netdevsim.ko"
for m in sys proc dev/pts dev; do umount "$work/build/$m"; done
rm -rf "$work/build"
in_root depmod "$kuname"

# Every network manager ManagementVrf drives, installed but idle: networkd stays the lab's own
# (NetworkManager disabled; ifupdown's and netplan's configuration lists no NIC), and a test
# hands the management NIC to one of them. ifupdown2 conflicts with ifupdown: its packages wait
# in /var/lib/hosttune-lab/debs for a test to install offline. Each release's own DHCP client
# for ifupdown (dhclient on 12, dhcpcd on 13), and dnsmasq's binary for a DNS server of the lab's own.
dhcp=isc-dhcp-client; [ "$release" = bookworm ] || dhcp=dhcpcd-base
in_root apt-get install -y -qq --no-install-recommends ifupdown "$dhcp" network-manager netplan.io dnsmasq-base python3 \
  >"$work/managers.log" 2>&1 || { tail -20 "$work/managers.log" >&2; exit 1; }
in_root systemctl disable NetworkManager.service NetworkManager-wait-online.service >/dev/null 2>&1
in_root apt-get clean
in_root apt-get install -y -qq -d --no-install-recommends ifupdown2 >>"$work/managers.log" 2>&1 || { tail -20 "$work/managers.log" >&2; exit 1; }
install -d "$root/var/lib/hosttune-lab/debs"
mv "$root"/var/cache/apt/archives/*.deb "$root/var/lib/hosttune-lab/debs/"

# Guest configuration.
install -m 0755 "$here/guest/hosttune-lab-seed" "$root/usr/local/sbin/hosttune-lab-seed"
install -m 0644 "$here/guest/hosttune-lab-seed.service" "$root/etc/systemd/system/"
install -m 0644 "$here/guest/10-lab-uplink.network" "$root/etc/systemd/network/"
install -m 0644 "$here/guest/sshd-lab.conf" "$root/etc/ssh/sshd_config.d/hosttune-lab.conf"
rm -f "$root"/etc/ssh/ssh_host_*
echo qemu_fw_cfg > "$root/etc/modules-load.d/hosttune-lab.conf"
echo 'LANG=C.UTF-8' > "$root/etc/default/locale"
echo 'hosttune-lab' > "$root/etc/hostname"
echo '/dev/vda / ext4 defaults 0 1' > "$root/etc/fstab"
in_root useradd -m -s /bin/bash -G sudo tuner
echo 'tuner ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/tuner"; chmod 0440 "$root/etc/sudoers.d/tuner"
in_root systemctl enable hosttune-lab-seed.service systemd-networkd.service >/dev/null 2>&1
in_root systemctl mask e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
in_root passwd -d root >/dev/null
in_root apt-get clean
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
for m in sys proc dev/pts dev; do umount "$root/$m"; done

mkdir -p "$work/out"
cp "$root/boot/vmlinuz-$kuname" "$work/out/vmlinuz"; cp "$root/boot/initrd.img-$kuname" "$work/out/initrd.img"
truncate -s 3G "$work/root.raw"
mkfs.ext4 -q -L root -d "$root" "$work/root.raw"
qemu-img convert -c -O qcow2 "$work/root.raw" "$work/out/base.qcow2"
echo "$kabi $kver" > "$work/out/kernel"
echo "$release" > "$work/out/release"
rm -rf "$out"; mv "$work/out" "$out"
echo "lab image: ready at $out" >&2
echo "$out"
