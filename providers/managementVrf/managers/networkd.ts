// systemd-networkd (and netplan rendering to it): a .netdev (Kind=vrf), a .network for the VRF
// device (loopback addresses, the local rule), and a VRF= drop-in for each interface's own
// .network, so its routes (default routes included) live in the VRF's table, at boot too.
import { join, type Raw, sh } from "../../core/quote";
import { type Step, waitUntil } from "../../core/steps";
import { HEADER, type ManagementVrfDesired } from "../schema";
import type { Detector, Driver, FileSpec, HostView, Owner } from "./types";

const DIR = "/etc/systemd/network";
// netplan's networkd renderer writes 10-netplan-<id>.network here.
const NETPLAN_RUN = /^\/run\/systemd\/network\/10-netplan-/;

export const paths = (d: ManagementVrfDesired) => ({
  netdev: `${DIR}/50-hosttune-vrf-${d.name}.netdev`,
  network: `${DIR}/50-hosttune-vrf-${d.name}.network`,
  rulesUnit: `/etc/systemd/system/hosttune-vrf-${d.name}-rules.service`,
  // Drop-ins for a .network file anywhere (/usr/lib, /run, /etc) may live in /etc.
  dropIn: (networkFile: string) =>
    `${DIR}/${networkFile.slice(networkFile.lastIndexOf("/") + 1)}.d/50-hosttune-vrf-${d.name}.conf`,
});

/**
 * The .network file networkd uses for each interface, while networkd runs. networkctl answers
 * without networkd too, with "n/a" for the file: that is no owner.
 */
export const detector: Detector = {
  fact: (interfaces) =>
    sh`systemctl is-active -q systemd-networkd.service || exit 0
${join(interfaces.map((i) => sh`printf '%s ' ${i}; networkctl status -- ${i} 2>/dev/null | sed -n 's/^ *Network File: //p' | head -1; echo`))}`,
  owners(out) {
    const owners: Record<string, Owner> = {};
    for (const line of out.split("\n")) {
      const [i, file] = line.trim().split(" ");
      if (!i || !file || file === "n/a") continue;
      owners[i] = { manager: NETPLAN_RUN.test(file) ? "netplan" : "networkd", source: file };
    }
    return owners;
  },
};

/**
 * The oneshot unit that deletes the kernel's pref-0 local rule at boot once networkd has configured
 * the VRF (its rule in place), and never while no local rule follows l3mdev.
 */
export const rulesUnit = (d: ManagementVrfDesired) => `${HEADER}
[Unit]
Description=hosttune: look up the local table after the l3mdev rule (VRF ${d.name})
After=systemd-networkd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=-/lib/systemd/systemd-networkd-wait-online --interface=${d.name}:carrier --timeout=120
${["-4", "-6"]
  .map(
    (f) =>
      `ExecStart=/bin/sh -c 'if ip ${f} rule show pref 32765 table local | grep -q .; ` +
      `then ip ${f} rule del pref 0 table local 2>/dev/null; fi; true'`,
  )
  .join("\n")}
[Install]
WantedBy=multi-user.target
`;

const networkFiles = (d: ManagementVrfDesired, h: HostView) =>
  d.interfaces.flatMap((i) => h.owners[i]?.filter((o) => o.manager === "networkd").map((o) => o.source) ?? []);

/**
 * What networkd gives the VRF device: the loopback addresses and, with reorderLocalRule, the local
 * rule after l3mdev. networkd (ManageForeignRoutingPolicyRules=yes, the default) deletes rules it
 * does not own whenever it configures a link: a rule added by hand or by a unit is gone after a
 * reboot or a reconfigure. Declared here, networkd adds it and keeps it across reconfigures.
 */
export const vrfNetwork = (d: ManagementVrfDesired) =>
  `[Network]\n${d.loopbackAddresses.map((a) => `Address=${a}\n`).join("")}` +
  (d.reorderLocalRule ? "\n[RoutingPolicyRule]\nFamily=both\nPriority=32765\nTable=local\n" : "");

function render(d: ManagementVrfDesired, h: HostView): Record<string, FileSpec> {
  const p = paths(d);
  const files: Record<string, FileSpec> = {
    [p.netdev]: { content: `${HEADER}\n[NetDev]\nName=${d.name}\nKind=vrf\n\n[VRF]\nTable=${d.table}\n` },
  };
  // The kernel's own pref-0 rule networkd leaves alone: the unit deletes it.
  if (d.reorderLocalRule) files[p.rulesUnit] = { content: rulesUnit(d) };
  files[p.network] = { content: `${HEADER}\n[Match]\nName=${d.name}\n\n${vrfNetwork(d)}` };
  for (const f of networkFiles(d, h)) files[p.dropIn(f)] = { content: `${HEADER}\n[Network]\nVRF=${d.name}\n` };
  return files;
}

/**
 * networkd adds the rule it owns when it configures the VRF (a VRF just created is being
 * configured already, so a failed reconfigure is no error); the pref-0 rule goes only once that
 * one is in place, so loopback always has a local lookup. (Generous: a slow host is a normal host.)
 */
export const localRule = (d: ManagementVrfDesired): Step => ({
  describe: `lookup local at pref 32765 (networkd, VRF ${d.name})`,
  run: sh`present() { ip -4 rule show pref 32765 table local | grep -q . && ip -6 rule show pref 32765 table local | grep -q .; }
present || networkctl reconfigure -- ${d.name} || true
${waitUntil(
  sh`present`,
  120,
  sh`echo "systemd-networkd did not add, within 120s, the lookup local rule (pref 32765) that VRF "${d.name}"'s .network declares"`,
)}
for f in -4 -6; do ip $f rule del pref 0 table local 2>/dev/null || true; done`,
});

/**
 * Waits until networkd has made the VRF device (a reload makes it on networkd's own time). An
 * interface configured before its VRF exists may take a DHCP lease first, and the kernel drops the
 * lease's routes as the VRF takes the interface (networkd 252 does not add them again): networkd
 * is asked to configure the interfaces only once it is there.
 */
export const waitForVrf = (d: ManagementVrfDesired): Raw =>
  waitUntil(
    sh`[ -e /sys/class/net/${d.name} ]`,
    120,
    sh`echo ${`systemd-networkd has not made VRF ${d.name} within 120s`}`,
  );

export const driver: Driver = {
  name: "networkd",
  paths: (d, h) => {
    const p = paths(d);
    return [p.netdev, p.network, p.rulesUnit, ...networkFiles(d, h).map(p.dropIn)];
  },
  render,
  up: (d) => ({
    describe: `networkd: create VRF ${d.name} (table ${d.table}) and enslave ${d.interfaces.join(", ")}`,
    run: sh`modprobe vrf
networkctl reload
${waitForVrf(d)}
networkctl reconfigure -- ${d.interfaces}`,
  }),
  // networkd never deletes a netdev: delete it (releasing the slaves), then let networkd put the
  // interfaces' addresses and routes back in the main table.
  down: (d) => ({
    describe: `delete VRF ${d.name} and give ${d.interfaces.join(", ")} back to the main table`,
    run: sh`networkctl reload; ip link del dev ${d.name} 2>/dev/null || true; sleep 1; networkctl reconfigure -- ${d.interfaces}`,
  }),
  localRule,
  rulesUnit: true,
};
