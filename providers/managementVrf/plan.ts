// Pure planning for ManagementVrf. systemd-networkd does the work at runtime and at boot from
// the same files: a .netdev (Kind=vrf), a .network for the VRF device (loopback addresses),
// and a drop-in VRF= for each enslaved interface's own .network (its routes, default routes
// included, then live in the VRF's table). The VRF's .network also declares the `lookup local`
// rule after l3mdev, so networkd owns it; a oneshot unit then deletes the kernel's pref-0 one.
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
  /**
   * Where `lookup local` sits: after l3mdev (32765) or first (0); byNetworkd: the VRF's
   * .network declares the 32765 rule, so networkd adds it (else we add it ourselves).
   */
  localRule: { pref: 0 | 32765; byNetworkd: boolean };
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
  if (d.reorderLocalRule) {
    // networkd (ManageForeignRoutingPolicyRules=yes, the default) deletes rules it does not own
    // whenever it configures a link: a rule added by hand or by a unit is gone after a reboot or
    // a reconfigure. Declared here, networkd adds it and keeps it across reconfigures.
    files[p.network] += "\n[RoutingPolicyRule]\nFamily=both\nPriority=32765\nTable=local\n";
    // The kernel's own pref-0 rule networkd leaves alone; the unit deletes it once networkd has
    // configured the VRF (its rule in place), and never while no local rule follows l3mdev.
    files[p.rulesUnit] = `${HEADER}
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
  }
  for (const f of Object.values(networkFiles)) if (f) files[p.dropIn(f)] = `${HEADER}\n[Network]\nVRF=${d.name}\n`;
  return files;
}

export function want(d: ManagementVrfDesired, o: ManagementVrfObserved): ManagementVrfTarget {
  const rendered = renderFiles(d, o.networkFiles);
  return {
    files: Object.fromEntries(Object.keys(o.files).map((p) => [p, rendered[p] ?? null])),
    sysctl: { tcp: d.l3mdevAccept.tcp ? "1" : "0", udp: d.l3mdevAccept.udp ? "1" : "0" },
    link: { table: d.table, interfaces: [...d.interfaces].sort() },
    localRule: {
      pref: d.reorderLocalRule ? 32765 : o.localRule.v4.includes(0) ? 0 : 32765,
      byNetworkd: d.reorderLocalRule,
    },
    rulesUnitEnabled: d.reorderLocalRule,
    resolver: resolverWant(d, o),
  };
}

export function restore(d: ManagementVrfDesired, recorded: ManagementVrfObserved): ManagementVrfTarget {
  return {
    files: recorded.files,
    sysctl: recorded.sysctl,
    link: recorded.link ? { table: recorded.link.table ?? 0, interfaces: recorded.slaves } : null,
    localRule: { pref: recorded.localRule.v4.includes(0) ? 0 : 32765, byNetworkd: false },
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
    if (!o || !o.l3mdevRule.v4.length || !o.l3mdevRule.v6.length)
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
  if (!o || !inOrder(t.localRule.pref, o, "v4") || !inOrder(t.localRule.pref, o, "v6"))
    steps.push(localRuleStep(t.localRule, d.name));
  if (t.resolver) steps.push(...resolverSteps(t.resolver, o));
  return steps;
}

/** The local rule where the target puts it: after every l3mdev rule and none before (32765), or first (0). */
function inOrder(pref: 0 | 32765, o: ManagementVrfObserved, family: "v4" | "v6"): boolean {
  const local = o.localRule[family];
  if (pref === 0) return local.includes(0);
  const l3mdev = o.l3mdevRule[family];
  return local.length > 0 && local.every((p) => p > Math.max(0, ...l3mdev));
}

function localRuleStep(t: ManagementVrfTarget["localRule"], vrf: string): Step {
  if (t.pref === 0)
    return {
      describe: "lookup local at pref 0",
      run: sh`for f in -4 -6; do
  ip $f rule show pref 0 table local | grep -q . || ip $f rule add pref 0 table local
  while ip $f rule del pref 32765 table local 2>/dev/null; do :; done
done`,
    };
  if (!t.byNetworkd)
    return {
      describe: "lookup local at pref 32765",
      run: sh`for f in -4 -6; do
  ip $f rule show pref 32765 table local | grep -q . || ip $f rule add pref 32765 table local
  ip $f rule del pref 0 table local 2>/dev/null || true
done`,
    };
  // networkd adds the rule it owns when it configures the VRF (a VRF just created is being
  // configured already, so a failed reconfigure is no error); the pref-0 rule goes only once
  // that one is in place, so loopback always has a local lookup. (Generous: a slow host is a
  // normal host.)
  return {
    describe: `lookup local at pref 32765 (networkd, VRF ${vrf})`,
    run: sh`missing() { ! ip -4 rule show pref 32765 table local | grep -q . || ! ip -6 rule show pref 32765 table local | grep -q .; }
if missing; then networkctl reconfigure -- ${vrf} || true; fi
n=0
while missing; do
  n=$((n + 1))
  if [ $n -gt 240 ]; then
    echo "systemd-networkd did not add, within 120s, the lookup local rule (pref 32765)" \
      "that VRF "${vrf}"'s .network declares" >&2
    exit 1
  fi
  sleep 0.5
done
for f in -4 -6; do ip $f rule del pref 0 table local 2>/dev/null || true; done`,
  };
}

const ruleSet = (o: ManagementVrfObserved, family: "v4" | "v6") =>
  [
    ...o.localRule[family].map((p) => ({ p, r: `${p}: lookup local` })),
    ...o.l3mdevRule[family].map((p) => ({ p, r: `${p}: l3mdev` })),
  ]
    .sort((a, b) => a.p - b.p)
    .map((x) => x.r);

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
  for (const family of ["v4", "v6"] as const) {
    const name = family === "v4" ? "IPv4 rules" : "IPv6 rules";
    const asked = [
      ...(t.link ? ["l3mdev"] : []),
      t.localRule.pref === 0 ? "lookup local at 0" : "lookup local after l3mdev (32765), none before",
    ].join(", ");
    if ((t.link && !o.l3mdevRule[family].length) || !inOrder(t.localRule.pref, o, family))
      out.push({ field: name, asked, got: ruleSet(o, family) });
  }
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
