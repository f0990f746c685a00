// Pure planning for ManagementVrf. systemd-networkd does the work at runtime and at boot from
// the same files: a .netdev (Kind=vrf), a .network for the VRF device (loopback addresses),
// and a drop-in VRF= for each enslaved interface's own .network (its routes, default routes
// included, then live in the VRF's table). A oneshot unit puts the local rule after l3mdev.
// Given no observation, plan() returns the full idempotent sequence: that is the rollback the
// host runs by itself when a fresh SSH connection does not confirm the change.
import { fileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import type { Step } from "../core/steps";
import type { ManagementVrfObserved, ResolverState } from "./probe";
import { type ManagementVrfDesired, paths } from "./schema";

export interface ManagementVrfTarget {
  files: Record<string, string | null>;
  sysctl: { tcp: string; udp: string };
  /** The VRF link with its table and slaves, or none. */
  link: { table: number; interfaces: string[] } | null;
  /** Where `lookup local` sits: after l3mdev (32765) or first (0). */
  localRule: 0 | 32765;
  rulesUnitEnabled: boolean;
  /** systemd-resolved and /etc/resolv.conf; null: left alone. */
  resolver: Omit<ResolverState, "upstream"> | null;
}

const RESOLV_CONF = "/etc/resolv.conf";

/** The servers for our resolv.conf: given, else resolved's upstream, else those our file already lists. */
function nameservers(d: ManagementVrfDesired, o: ManagementVrfObserved): string[] {
  if (d.nameservers?.length) return d.nameservers;
  if (o.resolver.upstream.length) return o.resolver.upstream;
  const ours = "content" in o.resolver.resolvConf ? (o.resolver.resolvConf.content ?? "") : "";
  return ours.startsWith(HEADER) ? [...ours.matchAll(/^nameserver (\S+)$/gm)].map((m) => m[1]) : [];
}

function resolverWant(d: ManagementVrfDesired, o: ManagementVrfObserved): ManagementVrfTarget["resolver"] {
  if (d.resolver === "keep") return null;
  const servers = nameservers(d, o);
  if (!servers.length)
    throw new Error(
      "systemd-resolved knows no upstream nameservers to write into /etc/resolv.conf; set managementVrf.nameservers",
    );
  return {
    resolved: o.resolver.resolved === "absent" ? "absent" : "inactive",
    resolvConf: {
      content: `${HEADER} systemd-resolved cannot serve VRF ${d.name}.\n${servers.map((n) => `nameserver ${n}\n`).join("")}`,
    },
  };
}

function resolverSteps(t: NonNullable<ManagementVrfTarget["resolver"]>, o: ManagementVrfObserved | undefined): Step[] {
  const steps: Step[] = [];
  const same = o && JSON.stringify(o.resolver.resolvConf) === JSON.stringify(t.resolvConf);
  if (t.resolved === "inactive" && (!o || o.resolver.resolved === "active"))
    steps.push({
      describe: "stop and disable systemd-resolved",
      run: sh`systemctl disable --now --quiet systemd-resolved`,
    });
  if (!same) {
    if ("link" in t.resolvConf)
      steps.push({
        describe: `${RESOLV_CONF} -> ${t.resolvConf.link}`,
        run: sh`ln -sfn ${t.resolvConf.link} ${RESOLV_CONF}`,
      });
    else
      steps.push(
        ...fileSteps(
          RESOLV_CONF,
          t.resolvConf.content,
          o && "content" in o.resolver.resolvConf
            ? o.resolver.resolvConf.content
            : t.resolvConf.content === null
              ? ""
              : null,
          // resolv.conf is resolved's symlink or our file: replacing the link is the point.
          { replaceLink: true },
        ),
      );
  }
  if (t.resolved === "active" && (!o || o.resolver.resolved !== "active"))
    steps.push({
      describe: "enable and start systemd-resolved",
      run: sh`systemctl enable --now --quiet systemd-resolved`,
    });
  return steps;
}

const HEADER = "# Managed by hosttune (ManagementVrf).";

export function renderFiles(
  d: ManagementVrfDesired,
  networkFiles: Record<string, string | null>,
): Record<string, string> {
  const p = paths(d);
  const files: Record<string, string> = {
    [p.netdev]: `${HEADER}\n[NetDev]\nName=${d.name}\nKind=vrf\n\n[VRF]\nTable=${d.table}\n`,
    [p.network]: `${HEADER}\n[Match]\nName=${d.name}\n\n[Network]\n${d.loopbackAddresses.map((a) => `Address=${a}\n`).join("")}`,
    [p.sysctl]: `${HEADER}\nnet.ipv4.tcp_l3mdev_accept = ${d.l3mdevAccept.tcp ? 1 : 0}\nnet.ipv4.udp_l3mdev_accept = ${d.l3mdevAccept.udp ? 1 : 0}\n`,
  };
  if (d.reorderLocalRule)
    files[p.rulesUnit] = `${HEADER}
[Unit]
Description=hosttune: look up the local table after the l3mdev rule (VRF ${d.name})
After=systemd-networkd.service
[Service]
Type=oneshot
RemainAfterExit=yes
${["-4", "-6"].map((f) => `ExecStart=/bin/sh -c 'ip ${f} rule show pref 32765 | grep -q . || ip ${f} rule add pref 32765 table local; ip ${f} rule del pref 0 table local 2>/dev/null; true'`).join("\n")}
[Install]
WantedBy=multi-user.target
`;
  for (const f of Object.values(networkFiles)) if (f) files[p.dropIn(f)] = `${HEADER}\n[Network]\nVRF=${d.name}\n`;
  return files;
}

export function want(d: ManagementVrfDesired, o: ManagementVrfObserved): ManagementVrfTarget {
  const rendered = renderFiles(d, o.networkFiles);
  return {
    files: Object.fromEntries(Object.keys(o.files).map((p) => [p, rendered[p] ?? null])),
    sysctl: { tcp: d.l3mdevAccept.tcp ? "1" : "0", udp: d.l3mdevAccept.udp ? "1" : "0" },
    link: { table: d.table, interfaces: [...d.interfaces].sort() },
    localRule: d.reorderLocalRule ? 32765 : o.localRule.v4.includes(0) ? 0 : 32765,
    rulesUnitEnabled: d.reorderLocalRule,
    resolver: resolverWant(d, o),
  };
}

export function restore(d: ManagementVrfDesired, recorded: ManagementVrfObserved): ManagementVrfTarget {
  return {
    files: recorded.files,
    sysctl: recorded.sysctl,
    link: recorded.link ? { table: recorded.link.table ?? 0, interfaces: recorded.slaves } : null,
    localRule: recorded.localRule.v4.includes(0) ? 0 : 32765,
    rulesUnitEnabled: recorded.rulesUnitEnabled,
    resolver:
      d.resolver === "keep" ? null : { resolved: recorded.resolver.resolved, resolvConf: recorded.resolver.resolvConf },
  };
}

/** Steps from `o` to `t`; with `o` undefined, every step (idempotent), for the host's own rollback. */
export function plan(t: ManagementVrfTarget, o: ManagementVrfObserved | undefined, d: ManagementVrfDesired): Step[] {
  const steps: Step[] = [];
  const ifaces = d.interfaces;
  // Without an observation (the rollback), every file is written or removed.
  for (const [path, content] of Object.entries(t.files))
    steps.push(...fileSteps(path, content, o ? (o.files[path] ?? null) : content === null ? "" : null));
  if (!o || o.sysctl.tcp !== t.sysctl.tcp || o.sysctl.udp !== t.sysctl.udp)
    steps.push({
      describe: `l3mdev accept tcp=${t.sysctl.tcp} udp=${t.sysctl.udp}`,
      run: sh`sysctl -q -w ${`net.ipv4.tcp_l3mdev_accept=${t.sysctl.tcp}`} ${`net.ipv4.udp_l3mdev_accept=${t.sysctl.udp}`}`,
    });
  const unit = `hosttune-vrf-${d.name}-rules.service`;
  if (!o || o.rulesUnitEnabled !== t.rulesUnitEnabled || steps.length)
    steps.push(
      t.rulesUnitEnabled
        ? { describe: `enable ${unit}`, run: sh`systemctl daemon-reload && systemctl enable --quiet ${unit}` }
        : {
            describe: `disable ${unit}`,
            run: sh`systemctl disable --quiet ${unit} 2>/dev/null || true; systemctl daemon-reload`,
          },
    );
  const networkChanged =
    !o ||
    steps.some((s) => "writeFile" in s || "removeFile" in s) ||
    (t.link !== null && (o.link === null || ifaces.some((i) => !o.slaves.includes(i))));
  if (t.link) {
    // The kernel adds the l3mdev rule with a netns's first VRF only, never again: if it was
    // deleted, VRF lookups (and SSH through the VRF) fail. We never remove it; we put it back.
    if (!o || !o.l3mdevRule)
      steps.push({
        describe: "ensure the l3mdev rule (pref 1000)",
        run: sh`modprobe vrf && for f in -4 -6; do ip $f rule show pref 1000 | grep -q l3mdev || ip $f rule add pref 1000 l3mdev protocol kernel; done`,
      });
    if (networkChanged)
      steps.push({
        describe: `networkd: create VRF ${d.name} (table ${d.table}) and enslave ${ifaces.join(", ")}`,
        run: sh`modprobe vrf && networkctl reload && sleep 1 && networkctl reconfigure -- ${ifaces}`,
      });
  } else if (!o || o.link !== null || networkChanged) {
    // networkd never deletes a netdev: delete it (releasing the slaves), then let networkd
    // put the interfaces' addresses and routes back in the main table.
    steps.push({
      describe: `delete VRF ${d.name} and give ${ifaces.join(", ")} back to the main table`,
      run: sh`networkctl reload; ip link del dev ${d.name} 2>/dev/null || true; sleep 1; networkctl reconfigure -- ${ifaces}`,
    });
  }
  const hasOrder = (prefs: number[]) =>
    t.localRule === 32765 ? prefs.includes(32765) && !prefs.includes(0) : prefs.includes(0);
  if (!o || !hasOrder(o.localRule.v4) || !hasOrder(o.localRule.v6)) {
    const [add, del] = t.localRule === 32765 ? [32765, 0] : [0, 32765];
    steps.push({
      describe: `lookup local at pref ${add}`,
      run: sh`for f in -4 -6; do ip $f rule show pref ${add} | grep -q . || ip $f rule add pref ${add} table local; ip $f rule del pref ${del} table local 2>/dev/null || true; done`,
    });
  }
  if (t.resolver) steps.push(...resolverSteps(t.resolver, o));
  return steps;
}

export function drift(t: ManagementVrfTarget, o: ManagementVrfObserved): Drift[] {
  const out: Drift[] = [];
  for (const [path, content] of Object.entries(t.files))
    if (o.files[path] !== content) out.push({ field: path, asked: content, got: o.files[path] });
  if (o.sysctl.tcp !== t.sysctl.tcp || o.sysctl.udp !== t.sysctl.udp)
    out.push({ field: "l3mdev accept (tcp, udp)", asked: t.sysctl, got: o.sysctl });
  const link = (l: { kind: string; table: number | null } | null) => (l ? `${l.kind} table ${l.table}` : "absent");
  if (!t.link !== !o.link || (t.link && (o.link?.kind !== "vrf" || o.link.table !== t.link.table)))
    out.push({ field: "VRF link", asked: t.link ? `vrf table ${t.link.table}` : "absent", got: link(o.link) });
  if (t.link && t.link.interfaces.some((i) => !o.slaves.includes(i)))
    out.push({ field: "enslaved interfaces", asked: t.link.interfaces, got: o.slaves });
  if (t.link && !o.l3mdevRule) out.push({ field: "l3mdev rule", asked: "present", got: "absent" });
  const first = t.localRule === 0;
  if (first !== o.localRule.v4.includes(0))
    out.push({ field: "IPv4 lookup local priority", asked: t.localRule, got: o.localRule.v4 });
  if (t.rulesUnitEnabled !== o.rulesUnitEnabled)
    out.push({ field: "rules unit enabled", asked: t.rulesUnitEnabled, got: o.rulesUnitEnabled });
  if (t.resolver) {
    if (t.resolver.resolved !== o.resolver.resolved)
      out.push({ field: "systemd-resolved", asked: t.resolver.resolved, got: o.resolver.resolved });
    if (JSON.stringify(t.resolver.resolvConf) !== JSON.stringify(o.resolver.resolvConf))
      out.push({ field: RESOLV_CONF, asked: t.resolver.resolvConf, got: o.resolver.resolvConf });
  }
  return out;
}
