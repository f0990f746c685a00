// Classic ifupdown (Debian's installer default) has no VRF keywords: hooks of ours make the VRF
// and enslave the interface before ifupdown configures it (if-pre-up.d), and move the routes that
// ifupdown and the DHCP client put in the main table into the VRF's (if-up.d, and the DHCP
// client's own hook, so a renewed lease lands there too). ifup at boot, ifdown/ifup by hand and
// every lease run them. The interface's stanza stays the operator's, untouched.
// The detector also recognises ifupdown2 (same ifquery, plus ifreload).
import { join, raw, type Raw, sh } from "../../core/quote";
import { LOCAL_RULE_AFTER_L3MDEV } from "../localRule";
import { HEADER, type ManagementVrfDesired } from "../schema";
import type { Detector, Driver, FileSpec, HostView, Owner } from "./types";

/** Interfaces with a stanza in ifupdown's configuration (ifquery knows them). */
export const detector: Detector = {
  fact: (interfaces) =>
    sh`PATH=$PATH:/usr/sbin:/sbin
command -v ifquery >/dev/null 2>&1 || exit 0
kind=ifupdown
if command -v ifreload >/dev/null 2>&1; then kind=ifupdown2; fi
${join(interfaces.map((i) => sh`if ifquery -- ${i} >/dev/null 2>&1; then echo ${i} "$kind"; fi`))}`,
  owners(out) {
    const owners: Record<string, Owner> = {};
    for (const line of out.split("\n")) {
      const [i, kind] = line.trim().split(" ");
      if (i && (kind === "ifupdown" || kind === "ifupdown2"))
        owners[i] = { manager: kind, source: "/etc/network/interfaces" };
    }
    return owners;
  },
};

// run-parts runs only names of [A-Za-z0-9_-].
const hookName = (d: ManagementVrfDesired) => `hosttune-vrf-${d.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
export const paths = (d: ManagementVrfDesired) => ({
  preUp: `/etc/network/if-pre-up.d/${hookName(d)}`,
  up: `/etc/network/if-up.d/${hookName(d)}`,
  dhclient: `/etc/dhcp/dhclient-exit-hooks.d/${hookName(d)}`,
  // dhcpcd runs the hooks of this folder (and two single files that are the operator's).
  dhcpcd: `/usr/lib/dhcpcd/dhcpcd-hooks/90-${hookName(d)}`,
});

// Only for the VRF's interfaces; one hook at a time (at boot, ifup runs for several at once).
const ours = (d: ManagementVrfDesired) => sh`case "$IFACE" in
  ${d.interfaces.map((i) => sh`${i}`).reduce((a, b) => sh`${a}|${b}`)}) ;;
  *) exit 0 ;;
esac
mkdir -p /run/hosttune
exec 9>${`/run/hosttune/vrf-${d.name}.lock`}
flock -w 60 9 || true`;

function render(d: ManagementVrfDesired, h: HostView): Record<string, FileSpec> {
  const p = paths(d);
  const header = raw(HEADER);
  const preUp = sh`#!/bin/sh
${header} VRF ${raw(d.name)}: made and given its interfaces
# before ifupdown configures them, so their addresses and routes are the VRF's from the start.
${ours(d)}
modprobe vrf 2>/dev/null || true
if ! ip -d -j link show dev ${d.name} 2>/dev/null | grep -q ${`"table":${d.table}[,}]`}; then
  ip link del dev ${d.name} 2>/dev/null || true
  ip link add dev ${d.name} type vrf table ${d.table}
fi
ip link set dev ${d.name} up
${join(d.loopbackAddresses.map((a) => sh`ip addr replace ${a} dev ${d.name}`))}
ip link set dev "$IFACE" master ${d.name}
`;
  const localRule = d.reorderLocalRule
    ? sh`${LOCAL_RULE_AFTER_L3MDEV}
`
    : sh``;
  const up = sh`#!/bin/sh
${header} Routes of VRF ${raw(d.name)}'s interfaces into its table:
# what ifupdown put in the main table (a static gateway), and, run by a DHCP client's hook, the
# lease's subnet (SUBNET, ADDR) and first router (ROUTERS), which the client itself cannot add
# for an interface in a VRF.
${ours(d)}
for f in -4 -6; do
  ip $f route show table main dev "$IFACE" |
    grep -v -e ' proto kernel' -e ' proto ra' -e '^local ' -e '^broadcast ' -e '^multicast ' |
    sed 's/ linkdown//' |
    while read -r r; do
      ip $f route replace $r dev "$IFACE" table ${d.table} && ip $f route del $r dev "$IFACE" table main
    done
done
if [ -n "$SUBNET" ]; then
  ip route replace "$SUBNET" dev "$IFACE" table ${d.table} proto dhcp scope link ${raw('${ADDR:+src "$ADDR"}')}
fi
for r in $ROUTERS; do
  ip route replace default via "$r" dev "$IFACE" table ${d.table} proto dhcp ${raw('${IF_METRIC:+metric "$IF_METRIC"}')}
  break
done
${localRule}exit 0
`;
  // Sourced by the DHCP client's script after each lease event: sets nothing, never exits.
  const leaseHook = (client: string, subnet: string) =>
    sh`${header} ${raw(client)} adds a lease's routes to the main table,
# which fails for an interface of VRF ${raw(d.name)}: its hook adds them to the VRF's table.
case "$reason" in
  BOUND | RENEW | REBIND | REBOOT)
    IFACE="$interface" SUBNET=${raw(subnet)} ADDR="$new_ip_address" ROUTERS="$new_routers" ${p.up}
    ;;
esac
`.text;
  const files: Record<string, FileSpec> = {
    [p.preUp]: { content: preUp.text, mode: "0755" },
    [p.up]: { content: up.text, mode: "0755" },
  };
  // dhclient adds the address with its prefix route (the kernel puts it in the VRF's table);
  // dhcpcd adds it without one, and the route itself.
  if (h.dhcpClients.includes("dhclient")) files[p.dhclient] = { content: leaseHook("dhclient", "") };
  if (h.dhcpClients.includes("dhcpcd"))
    files[p.dhcpcd] = { content: leaseHook("dhcpcd", '"$new_network_number/$new_subnet_cidr"') };
  return files;
}

/**
 * ifdown, then ifup with our hooks in place (or gone): ifupdown configures the interfaces anew.
 * Without the host lock's descriptor (9): the DHCP client ifup leaves running would hold the lock.
 */
const cycle = (d: ManagementVrfDesired): Raw =>
  sh`PATH=$PATH:/usr/sbin:/sbin
modprobe vrf 2>/dev/null || true
for i in ${d.interfaces}; do ifdown --force -- "$i" >/dev/null 2>&1 9>&- || true; done
ip link del dev ${d.name} 2>/dev/null || true
for i in ${d.interfaces}; do ifup -- "$i" 9>&-; done`;

export const driver: Driver = {
  name: "ifupdown",
  paths: (d) => Object.values(paths(d)),
  render,
  up: (d) => ({
    describe: `ifupdown: create VRF ${d.name} (table ${d.table}) and enslave ${d.interfaces.join(", ")} (ifdown, ifup)`,
    run: cycle(d),
  }),
  down: (d) => ({
    describe: `ifupdown: delete VRF ${d.name} and give ${d.interfaces.join(", ")} back to the main table (ifdown, ifup)`,
    run: cycle(d),
  }),
  rulesUnit: false,
};
