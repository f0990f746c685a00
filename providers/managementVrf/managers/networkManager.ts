// NetworkManager: a `vrf` profile of ours (table, loopback addresses, the local rule after
// l3mdev), and for each interface a port profile of ours: a copy of the operator's profile for it,
// given master=VRF and a higher autoconnect priority, so NetworkManager prefers it at boot and on
// every `nmcli device connect`. The operator's profile is never edited; destroy deletes ours and
// brings theirs up again. NetworkManager puts a port's routes (its DHCP lease's too) in the VRF's
// table by itself. netplan rendering to NetworkManager is told apart by its profile's path.
import { createHash } from "node:crypto";
import { join, raw, sh } from "../../core/quote";
import type { Step } from "../../core/steps";
import { LOCAL_RULE_AFTER_L3MDEV } from "../localRule";
import { HEADER, type ManagementVrfDesired } from "../schema";
import type { Detector, Driver, FileSpec, HostView, Owner } from "./types";

const DIR = "/etc/NetworkManager/system-connections";
// netplan's NetworkManager renderer writes netplan-<id>.nmconnection here.
const NETPLAN_RUN = /^\/run\/NetworkManager\/system-connections\/netplan-/;
// NM's device states: 10 unmanaged; 20 and up, managed. "(externally)": configured by another.
const MANAGED = 20;
// Our port profile names the operator's profile it was copied from on this line.
const FROM = "# From: ";
const PORT_PREFIX = "hosttune-vrf-";

export const paths = (d: ManagementVrfDesired) => ({
  vrf: `${DIR}/hosttune-vrf-${d.name}.nmconnection`,
  port: (i: string) => `${DIR}/hosttune-vrf-${d.name}-${i}.nmconnection`,
  // With resolver: disableResolved, resolv.conf is ours: NetworkManager must not rewrite it.
  conf: `/etc/NetworkManager/conf.d/hosttune-vrf-${d.name}.conf`,
  dispatcher: `/etc/NetworkManager/dispatcher.d/90-hosttune-vrf-${d.name}`,
});

/**
 * For each interface, NetworkManager's device state and the operator's profile for it with its
 * content: the active profile's file, or, when the active one is our port profile, the file it
 * was copied from.
 */
export const detector: Detector = {
  fact: (interfaces) =>
    sh`systemctl is-active -q NetworkManager.service || exit 0
active=$(nmcli -g DEVICE,FILENAME connection show --active 2>/dev/null)
${join(
  interfaces.map(
    (i) =>
      sh`state=$(nmcli -g GENERAL.STATE device show ${i} 2>/dev/null)
file=$(printf '%s\n' "$active" | awk -v p=${`${i}:`} 'index($0, p) == 1 { s = substr($0, length(p) + 1); gsub(/\\:/, ":", s); print s; exit }')
case "$file" in
  */${PORT_PREFIX}*) file=$(sed -n ${`s/^${FROM}//p`} "$file" 2>/dev/null | head -n 1) ;;
esac
printf '\036nm %s|%s|%s\n' ${i} "$state" "$file"
if [ -n "$file" ] && [ -r "$file" ]; then cat -- "$file"; fi`,
  ),
)}`,
  owners(out) {
    const owners: Record<string, Owner> = {};
    for (const chunk of out.split("\x1enm ").slice(1)) {
      const nl = chunk.indexOf("\n");
      const [i, state, file] = (nl < 0 ? chunk : chunk.slice(0, nl)).split("|");
      if (!i || !state || Number.parseInt(state, 10) < MANAGED || state.includes("externally")) continue;
      const content = nl < 0 || !file ? null : chunk.slice(nl + 1);
      owners[i] = {
        manager: NETPLAN_RUN.test(file ?? "") ? "netplan" : "NetworkManager",
        source: file || `NetworkManager (${state.trim()}, no profile active)`,
        content: content || null,
      };
    }
    return owners;
  },
};

/** A profile's UUID, the same on every run: NetworkManager and our plan name a profile by it. */
export function uuidOf(name: string): string {
  const h = createHash("sha256").update(`hosttune:${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A key of a keyfile section ([connection] uuid=...), or undefined. */
function key(content: string, section: string, name: string): string | undefined {
  let inSection = false;
  for (const line of content.split("\n")) {
    const head = /^\s*\[(.+)\]\s*$/.exec(line);
    if (head) inSection = head[1] === section;
    else if (inSection && line.startsWith(`${name}=`)) return line.slice(name.length + 1).trim();
  }
  return undefined;
}

const portId = (d: ManagementVrfDesired, i: string) => `${PORT_PREFIX}${d.name}-${i}`;

/** NetworkManager's owner of `i`: the operator's profile and its content. */
const theirs = (h: HostView, i: string) => h.owners[i]?.find((x) => x.manager === "NetworkManager");

function owner(h: HostView, i: string): Owner {
  const o = theirs(h, i);
  if (!o?.content)
    throw new Error(
      `interface ${i}: NetworkManager manages it, but hosttune cannot read the profile it has active ` +
        `(${o?.source ?? "none"}); give ${i} a saved profile (nmcli connection add ... ifname ${i}) and run again`,
    );
  return o;
}

/**
 * The operator's profile for `i`, as ours: a new id and UUID, master=VRF (the keys NetworkManager
 * 1.42 reads, 1.46 and later read too; their newer names dropped), a priority above theirs.
 */
export function portProfile(d: ManagementVrfDesired, i: string, from: Owner): string {
  const base = from.content ?? "";
  const priority = Number(key(base, "connection", "autoconnect-priority") ?? 0);
  if (priority >= 999)
    throw new Error(
      `interface ${i}: its NetworkManager profile (${from.source}) has autoconnect-priority ${priority}, ` +
        "the highest there is: hosttune's port profile could not take precedence at boot; lower it and run again",
    );
  const drop = /^(id|uuid|timestamp|master|slave-type|controller|port-type|autoconnect-priority)=/;
  let section = "";
  const out = [
    `${HEADER} VRF ${d.name}: NetworkManager's profile for ${i}, a copy of the operator's`,
    "# (untouched) given master=VRF; it wins at boot by its autoconnect-priority.",
    `${FROM}${from.source}`,
  ];
  for (const line of base.split("\n")) {
    const head = /^\s*\[(.+)\]\s*$/.exec(line);
    if (head) section = head[1];
    else if (section === "connection" && drop.test(line)) continue;
    if (line.startsWith("#")) continue;
    out.push(line);
    if (head && section === "connection")
      out.push(
        `id=${portId(d, i)}`,
        `uuid=${uuidOf(portId(d, i))}`,
        `master=${d.name}`,
        "slave-type=vrf",
        `autoconnect-priority=${priority + 1}`,
      );
  }
  return `${out.join("\n").replace(/\n+$/, "")}\n`;
}

function vrfProfile(d: ManagementVrfDesired): string {
  const family = (v6: boolean) => {
    const addrs = d.loopbackAddresses.filter((a) => a.includes(":") === v6);
    return [
      `method=${addrs.length ? "manual" : "disabled"}`,
      ...addrs.map((a, n) => `address${n + 1}=${a}`),
      // The local rule after l3mdev, NetworkManager's own (the kernel's pref 0 one goes by our dispatcher script).
      ...(d.reorderLocalRule ? ["routing-rule1=priority 32765 table 255"] : []),
    ].join("\n");
  };
  return `${HEADER}
[connection]
id=hosttune-vrf-${d.name}
uuid=${uuidOf(`hosttune-vrf-${d.name}`)}
type=vrf
interface-name=${d.name}

[vrf]
table=${d.table}

[ipv4]
${family(false)}

[ipv6]
${family(true)}
`;
}

function render(d: ManagementVrfDesired, h: HostView): Record<string, FileSpec> {
  const p = paths(d);
  // NetworkManager reads only profiles no one but root can read.
  const files: Record<string, FileSpec> = { [p.vrf]: { content: vrfProfile(d), mode: "0600" } };
  for (const i of d.interfaces) files[p.port(i)] = { content: portProfile(d, i, owner(h, i)), mode: "0600" };
  // NetworkManager leaves the kernel's pref-0 local rule (measured: at boot, on Debian 12):
  // deleted as the VRF comes up, once the rule after l3mdev is in place.
  if (d.reorderLocalRule)
    files[p.dispatcher] = {
      content: sh`#!/bin/sh
${raw(HEADER)} VRF ${raw(d.name)}: the local rule after l3mdev
# whenever NetworkManager brings the VRF up, at boot too.
[ "$1" = ${d.name} ] && [ "$2" = up ] || exit 0
${LOCAL_RULE_AFTER_L3MDEV}
`.text,
      mode: "0755",
    };
  if (d.resolver === "disableResolved")
    files[p.conf] = {
      content: `${HEADER} /etc/resolv.conf is hosttune's while VRF ${d.name} is.\n[main]\nrc-manager=unmanaged\n`,
    };
  return files;
}

/** The operator's profile for each interface, by UUID (else the device's best profile). */
const backToTheirs = (d: ManagementVrfDesired, h: HostView) =>
  join(
    d.interfaces.map((i) => {
      const uuid = key(theirs(h, i)?.content ?? "", "connection", "uuid");
      return uuid ? sh`nmcli connection up uuid ${uuid}` : sh`nmcli device connect ${i}`;
    }),
  );

export const driver: Driver = {
  name: "NetworkManager",
  paths: (d) => {
    const p = paths(d);
    return [p.vrf, ...d.interfaces.map(p.port), p.conf, p.dispatcher];
  },
  render,
  up: (d): Step => ({
    describe: `NetworkManager: create VRF ${d.name} (table ${d.table}) and enslave ${d.interfaces.join(", ")} (nmcli connection up)`,
    run: sh`modprobe vrf
nmcli general reload conf
nmcli connection reload
nmcli connection up uuid ${uuidOf(`hosttune-vrf-${d.name}`)}
${join(d.interfaces.map((i) => sh`nmcli connection up uuid ${uuidOf(portId(d, i))}`))}`,
  }),
  // Our profiles' files are gone: reloaded, NetworkManager forgets them; the VRF goes, theirs come up.
  down: (d, h): Step => ({
    describe: `NetworkManager: delete VRF ${d.name} and bring up the operator's profiles of ${d.interfaces.join(", ")}`,
    run: sh`nmcli general reload conf
nmcli connection reload
ip link del dev ${d.name} 2>/dev/null || true
${backToTheirs(d, h)}`,
  }),
  rulesUnit: false,
};
