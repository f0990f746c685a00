// Pure planning for ManagementVrf. The network manager that owns the interfaces does the work,
// at runtime and at boot, from files of ours (managers/: networkd's .netdev and drop-ins,
// ifupdown's hooks); the plan around it is the same for each: the l3mdev sysctls, the l3mdev
// rule, the `lookup local` rule after it, and the resolver.
// Given no observation, plan() returns the full idempotent sequence: that is the rollback the
// host runs by itself when a fresh SSH connection does not confirm the change.
import { fileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import { type Step, waitUntil } from "../core/steps";
import { LOCAL_RULE_AFTER_L3MDEV } from "./localRule";
import { drivers, type FileSpec, type HostView, managerOf, type ManagerName } from "./managers";
import type { ManagementVrfObserved, ResolverState } from "./probe";
import { HEADER, type ManagementVrfDesired, sysctlPath } from "./schema";

export interface ManagementVrfTarget {
  /** The manager that applies the files (null: none left to ask, the VRF is simply deleted). */
  manager: ManagerName | null;
  files: Record<string, string | null>;
  /** A new file's mode where it is not 0644 (hooks a manager runs, profiles it reads only if private). */
  modes: Record<string, NonNullable<FileSpec["mode"]>>;
  /** The interfaces' owners as planned from: what the manager's commands name (a profile to go back to). */
  host: HostView;
  sysctl: { tcp: string; udp: string };
  /** The VRF link with its table and slaves, or none. */
  link: { table: number; interfaces: string[] } | null;
  /**
   * Where the interfaces' routes live ("main" without the VRF), and the interfaces whose default
   * route must be there once the manager is done: each that had one when planned (a change never
   * loses the management network's default route, a DHCP lease's included).
   */
  routes: { table: string; defaults: string[] };
  /**
   * Where `lookup local` sits: after l3mdev (32765) or first (0); byManager: the manager's files
   * declare the 32765 rule, so the manager adds it (else we add it ourselves).
   */
  localRule: { pref: 0 | 32765; byManager: boolean };
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

/** Every file the VRF takes on this host: the sysctls, and what its manager writes. */
export function renderFiles(
  d: ManagementVrfDesired,
  o: ManagementVrfObserved,
): { manager: ManagerName; files: Record<string, string>; modes: ManagementVrfTarget["modes"] } {
  const driver = managerOf(d.interfaces, o.owners);
  const specs = driver.render(d, o);
  const files: Record<string, string> = {
    [sysctlPath(d)]:
      `${HEADER}\nnet.ipv4.tcp_l3mdev_accept = ${d.l3mdevAccept.tcp ? 1 : 0}\nnet.ipv4.udp_l3mdev_accept = ${d.l3mdevAccept.udp ? 1 : 0}\n`,
  };
  for (const [path, f] of Object.entries(specs)) files[path] = f.content;
  const modes = Object.fromEntries(Object.entries(specs).flatMap(([path, f]) => (f.mode ? [[path, f.mode]] : [])));
  return { manager: driver.name, files, modes };
}

/** The interfaces with a default route, in whichever table. */
const withDefault = (o: ManagementVrfObserved) =>
  [...new Set(o.routes.filter((r) => r.dst === "default").map((r) => r.dev))].sort();

/** The routes' table as a message names it. */
const tableName = (table: string) => (table === "main" ? "the main table" : `table ${table}`);

/** What the routes lack: defaults not in the table, and (with a VRF) routes left in main. */
function routesAmiss(t: ManagementVrfTarget, o: ManagementVrfObserved) {
  const missing = t.routes.defaults.filter(
    (i) => !o.routes.some((r) => r.dev === i && r.dst === "default" && r.table === t.routes.table),
  );
  const inMain = t.link ? o.routes.filter((r) => r.table === "main").map((r) => `${r.dst} dev ${r.dev}`) : [];
  return { missing, inMain };
}

export function want(d: ManagementVrfDesired, o: ManagementVrfObserved): ManagementVrfTarget {
  const { manager, files, modes } = renderFiles(d, o);
  const driver = drivers[manager]!;
  return {
    manager,
    // Every file of ours the host may hold: what this manager does not use goes.
    files: Object.fromEntries(
      [...new Set([...Object.keys(o.files), ...Object.keys(files)])].map((p) => [p, files[p] ?? null]),
    ),
    modes,
    host: { owners: o.owners, dhcpClients: o.dhcpClients },
    sysctl: { tcp: d.l3mdevAccept.tcp ? "1" : "0", udp: d.l3mdevAccept.udp ? "1" : "0" },
    link: { table: d.table, interfaces: [...d.interfaces].sort() },
    routes: { table: String(d.table), defaults: withDefault(o) },
    localRule: {
      pref: d.reorderLocalRule ? 32765 : o.localRule.v4.includes(0) ? 0 : 32765,
      byManager: d.reorderLocalRule && !!driver.localRule,
    },
    rulesUnitEnabled: d.reorderLocalRule && driver.rulesUnit,
    resolver: resolverWant(d, o),
  };
}

/**
 * Back to what the host had before create: its files (ours absent then, whatever manager wrote
 * them since), through the manager that owns the interfaces now (else the one they had then).
 */
export function restore(
  d: ManagementVrfDesired,
  recorded: ManagementVrfObserved,
  current: ManagementVrfObserved = recorded,
): ManagementVrfTarget {
  const [owned] = [current, recorded].flatMap((o) => {
    try {
      return [{ manager: managerOf(d.interfaces, o.owners).name, host: o }];
    } catch {
      return [];
    }
  });
  const paths = new Set([...Object.keys(recorded.files), ...Object.keys(current.files)]);
  return {
    manager: owned?.manager ?? null,
    files: Object.fromEntries([...paths].map((p) => [p, recorded.files[p] ?? null])),
    modes: {},
    host: { owners: (owned?.host ?? current).owners, dhcpClients: (owned?.host ?? current).dhcpClients },
    sysctl: recorded.sysctl,
    link: recorded.link ? { table: recorded.link.table ?? 0, interfaces: recorded.slaves } : null,
    routes: { table: recorded.link ? String(recorded.link.table) : "main", defaults: withDefault(recorded) },
    localRule: { pref: recorded.localRule.v4.includes(0) ? 0 : 32765, byManager: false },
    rulesUnitEnabled: recorded.rulesUnitEnabled,
    resolver:
      d.resolver === "keep" ? null : { resolved: recorded.resolver.resolved, resolvConf: recorded.resolver.resolvConf },
  };
}

/** Steps from `o` to `t`; with `o` undefined, every step (idempotent), for the host's own rollback. */
export function plan(t: ManagementVrfTarget, o: ManagementVrfObserved | undefined, d: ManagementVrfDesired): Step[] {
  const steps: Step[] = [];
  const ifaces = d.interfaces;
  const driver = t.manager ? drivers[t.manager] : undefined;
  // Without an observation (the rollback), every file is written or removed.
  for (const [path, content] of Object.entries(t.files))
    steps.push(
      ...fileSteps(
        path,
        content,
        o ? (o.files[path] ?? null) : content === null ? "" : null,
        t.modes[path] ? { mode: t.modes[path] } : {},
      ),
    );
  if (!o || o.sysctl.tcp !== t.sysctl.tcp || o.sysctl.udp !== t.sysctl.udp)
    steps.push({
      describe: `l3mdev accept tcp=${t.sysctl.tcp} udp=${t.sysctl.udp}`,
      run: sh`sysctl -q -w ${`net.ipv4.tcp_l3mdev_accept=${t.sysctl.tcp}`} ${`net.ipv4.udp_l3mdev_accept=${t.sysctl.udp}`}`,
    });
  const unit = `hosttune-vrf-${d.name}-rules.service`;
  if (!o || o.rulesUnitEnabled !== t.rulesUnitEnabled || (t.rulesUnitEnabled && steps.length))
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
    (t.link !== null && (o.link === null || ifaces.some((i) => !o.slaves.includes(i)))) ||
    routesAmiss(t, o).inMain.length > 0;
  if (t.link) {
    // The kernel adds the l3mdev rule with a netns's first VRF only, never again: if it was
    // deleted, VRF lookups (and SSH through the VRF) fail. We never remove it; we put it back.
    if (!o || !o.l3mdevRule.v4.length || !o.l3mdevRule.v6.length)
      steps.push({
        describe: "ensure the l3mdev rule (pref 1000)",
        run: sh`modprobe vrf && for f in -4 -6; do ip $f rule show pref 1000 | grep -q l3mdev || ip $f rule add pref 1000 l3mdev protocol kernel; done`,
      });
    if (networkChanged && driver) steps.push(driver.up(d, t.host), routesSettle(t, d));
  } else if (!o || o.link !== null || networkChanged) {
    steps.push(
      driver
        ? driver.down(d, t.host)
        : {
            describe: `delete VRF ${d.name} (no network manager owns ${ifaces.join(", ")} now: their configuration is left as it is)`,
            run: sh`ip link del dev ${d.name} 2>/dev/null || true`,
          },
    );
    if (driver && t.routes.defaults.length) steps.push(routesSettle(t, d));
  }
  if (!o || !inOrder(t.localRule.pref, o, "v4") || !inOrder(t.localRule.pref, o, "v6"))
    steps.push(t.localRule.byManager && driver?.localRule ? driver.localRule(d) : localRuleStep(t.localRule.pref));
  if (t.resolver) steps.push(...resolverSteps(t.resolver, o));
  return steps;
}

/**
 * Waits for the manager to be done with the routes: each default route the interfaces had back in
 * the target's table (a DHCP client's after its new lease) and, with the VRF, none left in main.
 * Else the change fails, naming what is amiss. (Generous: a slow host is a normal host.)
 */
function routesSettle(t: ManagementVrfTarget, d: ManagementVrfDesired): Step {
  const { table, defaults } = t.routes;
  const where = tableName(table);
  return {
    describe:
      `wait for the routes via ${d.interfaces.join(", ")} in ${where}` +
      (defaults.length ? ` (default via ${defaults.join(", ")})` : ""),
    run: sh`routes() { t=$1; shift; { ip -4 route show table "$t" "$@"; ip -6 route show table "$t" "$@"; } 2>/dev/null | grep -v ' proto ra '; }
amiss() {
  for i in ${defaults}; do routes ${table} default dev "$i" | grep -q . || echo "no default route via $i in "${where}; done
  ${t.link ? sh`for i in ${d.interfaces}; do ! routes main dev "$i" | grep -q . || echo "routes via $i left in the main table"; done` : sh`:`}
}
${waitUntil(sh`[ -z "$(amiss)" ]`, 120, sh`echo "after 120s: $(amiss | paste -sd ';' | sed 's/;/; /g')"`)}`,
  };
}

/** The local rule where the target puts it: after every l3mdev rule and none before (32765), or first (0). */
function inOrder(pref: 0 | 32765, o: ManagementVrfObserved, family: "v4" | "v6"): boolean {
  const local = o.localRule[family];
  if (pref === 0) return local.includes(0);
  const l3mdev = o.l3mdevRule[family];
  return local.length > 0 && local.every((p) => p > Math.max(0, ...l3mdev));
}

/** The local rule at `pref`; pref 0 as the kernel's own (networkd deletes any other rule it does not own). */
function localRuleStep(pref: 0 | 32765): Step {
  if (pref === 0)
    return {
      describe: "lookup local at pref 0",
      run: sh`for f in -4 -6; do
  ip $f rule show pref 0 table local | grep -q . || ip $f rule add pref 0 table local protocol kernel
  while ip $f rule del pref 32765 table local 2>/dev/null; do :; done
done`,
    };
  return { describe: "lookup local at pref 32765", run: LOCAL_RULE_AFTER_L3MDEV };
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
  const { missing, inMain } = routesAmiss(t, o);
  if (missing.length)
    out.push({
      field: `default routes in ${tableName(t.routes.table)}`,
      asked: t.routes.defaults,
      got: t.routes.defaults.filter((i) => !missing.includes(i)),
    });
  if (inMain.length) out.push({ field: "routes via the VRF's interfaces in the main table", asked: [], got: inMain });
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
