#!/bin/sh
# Runs on a lab VM (lab/lab.sh manager N VARIANT pipes it there): hands the VM's network to one
# network manager, as a host installed that way has it. Every variant has two interfaces for a
# management VRF: enp0s2 (QEMU's user network, static 10.0.2.15/24: the SSH path) and up0, a veth
# to an "upstream" network namespace whose dnsmasq hands out DHCP leases (2 minutes, so renewals
# happen in a test's time) with a router and a DNS server (192.0.2.1) that answers
# mgmt.lab.test: reached through up0 only. Variants:
#   networkd   the lab's own (lab/guest/10-lab-uplink.network; up0 unconfigured)
#   ifupdown   Debian's installer: /etc/network/interfaces, enp0s2 static, up0 by DHCP
#              (dhclient on Debian 12, without systemd-resolved; dhcpcd on 13, feeding
#              systemd-resolved), networkd off
#   NetworkManager  profiles of NetworkManager's: enp0s2 static, up0 by DHCP (its own client)
#   netplan    /etc/netplan/50-lab.yaml rendered to systemd-networkd: enp0s2 static, up0 by DHCP
set -eu
variant=${1:?variant}
uplink=/etc/systemd/network/10-lab-uplink.network

cat > /etc/systemd/system/hosttune-lab-upstream.service <<'UNIT'
[Unit]
Description=hosttune lab: an upstream network (DHCP with a router, DNS) behind the veth up0
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=forking
PIDFile=/run/hosttune-lab-upstream.pid
ExecStartPre=-/usr/sbin/ip netns del upstream
ExecStartPre=/usr/sbin/ip netns add upstream
ExecStartPre=/usr/sbin/ip link add up0 type veth peer name up1 netns upstream
ExecStartPre=/usr/sbin/ip -n upstream addr add 192.0.2.1/24 dev up1
ExecStartPre=/usr/sbin/ip -n upstream link set up1 up
ExecStartPre=/usr/sbin/ip -n upstream link set lo up
ExecStart=/usr/sbin/ip netns exec upstream /usr/sbin/dnsmasq --conf-file=/dev/null --no-resolv --no-hosts \
  --interface=up1 --bind-interfaces --pid-file=/run/hosttune-lab-upstream.pid --dhcp-leasefile=/run/hosttune-lab-upstream.leases \
  --dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,2m --dhcp-option=option:router,192.0.2.1 \
  --dhcp-option=option:dns-server,192.0.2.1 --address=/mgmt.lab.test/192.0.2.80 --log-dhcp --log-facility=/run/hosttune-lab-upstream.log

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --quiet hosttune-lab-upstream.service
systemctl is-active -q hosttune-lab-upstream.service || systemctl start hosttune-lab-upstream.service

# Leave the current manager: what it configured goes with it.
if [ -e /etc/netplan/50-lab.yaml ]; then
  rm -f /etc/netplan/50-lab.yaml
  netplan generate
fi
systemctl disable --now --quiet systemd-networkd.service systemd-networkd.socket 2>/dev/null || true
[ ! -e "$uplink" ] || mv "$uplink" "$uplink.off"
ifdown -a --force 2>/dev/null || true
if systemctl is-active -q NetworkManager.service; then
  for c in lab-enp0s2 lab-up0; do nmcli connection delete "$c" 2>/dev/null || true; done
  systemctl disable --now --quiet NetworkManager.service
fi
rm -f /etc/udev/rules.d/90-lab-up0-managed.rules
printf '# interfaces(5) file used by ifup(8) and ifdown(8)\nsource /etc/network/interfaces.d/*\n' > /etc/network/interfaces
for i in enp0s2 up0; do
  ip addr flush dev "$i"
  ip route flush dev "$i"
done
# The other NICs as a boot leaves them (down): one an earlier test left up (report.test.ts's
# enp0s3) is taken by NetworkManager as an external connection, which the next boot does not have.
for i in /sys/class/net/*/device; do
  i=${i%/device}
  i=${i##*/}
  [ "$i" = enp0s2 ] && continue
  ip addr flush dev "$i"
  ip link set dev "$i" down
done
ip link set lo up
for f in -4 -6; do ip $f rule show pref 0 table local | grep -q . || ip $f rule add pref 0 table local; done
systemctl unmask --quiet systemd-resolved.service
systemctl enable --now --quiet systemd-resolved.service
ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf

case "$variant" in
  networkd)
    mv "$uplink.off" "$uplink"
    systemctl enable --now --quiet systemd-networkd.service
    networkctl reload
    networkctl reconfigure enp0s2
    ;;
  ifupdown)
    cat > /etc/network/interfaces <<'IFACES'
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
auto enp0s2
iface enp0s2 inet static
	address 10.0.2.15/24

# The upstream network, by DHCP
allow-hotplug up0
iface up0 inet dhcp
IFACES
    # Debian 12's dhclient has no hook for systemd-resolved (a server installed with ifupdown has
    # none): it writes /etc/resolv.conf. Debian 13's dhcpcd tells resolved through resolvconf.
    if command -v dhclient >/dev/null; then
      systemctl disable --now --quiet systemd-resolved.service
      rm -f /etc/resolv.conf
    fi
    ifup lo
    ifup enp0s2
    ifup up0
    ;;
  NetworkManager)
    # Only the profiles below: no automatic DHCP profile for enp0s3 (a second 10.0.2.0/24 would
    # take the SSH path's replies) or up0.
    mkdir -p /etc/NetworkManager/conf.d
    printf '[main]\nno-auto-default=*\n' > /etc/NetworkManager/conf.d/50-lab.conf
    # NetworkManager leaves veth devices it did not create unmanaged (its udev rule 85-nm-unmanaged):
    # up0 stands for a NIC here, managed at boot too.
    printf 'ENV{INTERFACE}=="up0", ENV{NM_UNMANAGED}="0"\n' > /etc/udev/rules.d/90-lab-up0-managed.rules
    udevadm control --reload
    systemctl enable --now --quiet NetworkManager.service
    nmcli connection add type ethernet ifname enp0s2 con-name lab-enp0s2 ipv4.method manual \
      ipv4.addresses 10.0.2.15/24 ipv6.method ignore >/dev/null
    nmcli connection add type ethernet ifname up0 con-name lab-up0 ipv4.method auto ipv6.method ignore >/dev/null
    nmcli connection up lab-enp0s2 >/dev/null
    nmcli connection up lab-up0 >/dev/null
    ;;
  netplan)
    mkdir -p /etc/netplan
    cat > /etc/netplan/50-lab.yaml <<'NETPLAN'
network:
  version: 2
  renderer: networkd
  ethernets:
    enp0s2:
      addresses: [10.0.2.15/24]
    up0:
      dhcp4: true
NETPLAN
    chmod 600 /etc/netplan/50-lab.yaml
    systemctl enable --now --quiet systemd-networkd.service
    netplan apply
    ;;
  *)
    echo "manager.sh: unknown variant $variant" >&2
    exit 2
    ;;
esac
