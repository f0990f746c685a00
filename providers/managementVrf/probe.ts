// Facts for ManagementVrf: the VRF link and its slaves, which network manager owns each
// interface (every manager's detector), our files (those of every manager we drive), the l3mdev
// sysctls, the local-table rules, the routes via the interfaces and the resolver.
import { fact, type Facts } from "../core/facts";
import { join, raw, sh, type Raw } from "../core/quote";
import { detectors, drivers, type HostView, type Owner } from "./managers";
import { type ManagementVrfDesired, sysctlPath } from "./schema";

export interface ManagementVrfObserved extends HostView {
  link: { kind: string; table: number | null } | null;
  slaves: string[];
  /** Content of every file we may manage, by path (null: absent). */
  files: Record<string, string | null>;
  sysctl: { tcp: string; udp: string };
  /** Priorities of the `lookup local` rules, IPv4 and IPv6. */
  localRule: { v4: number[]; v6: number[] };
  /** Priorities of the l3mdev rules: the kernel adds them with a netns's first VRF only. */
  l3mdevRule: { v4: number[]; v6: number[] };
  rulesUnitEnabled: boolean;
  /** The routes via the VRF's interfaces (not a router advertisement's: those come on their own time). */
  routes: Route[];
  resolver: ResolverState;
}

export interface Route {
  dev: string;
  dst: string;
  /** "main", "local", or the VRF's table number. */
  table: string;
}

export interface ResolverState {
  /** systemd-resolved active and enabled ("absent": not installed). */
  resolved: "active" | "inactive" | "absent";
  /** /etc/resolv.conf: a symlink's target, or a file's content. */
  resolvConf: { link: string } | { content: string | null };
  /** Upstream servers systemd-resolved uses (its /run/systemd/resolve/resolv.conf). */
  upstream: string[];
}

/** Every file of ours this VRF may have on a host with these owners: any driver's, and the sysctls. */
const candidates = (d: ManagementVrfDesired, h: HostView) => [
  sysctlPath(d),
  ...Object.values(drivers).flatMap((m) => m.paths(d, h)),
];

export function probeFacts(d: ManagementVrfDesired): Record<string, Raw> {
  const cat = (path: string) =>
    sh`printf '\036file %s\n' ${path}; if [ -e ${path} ]; then cat ${path}; printf '\n\036end 0\n'; else printf '\n\036end 3\n'; fi`;
  return {
    link: sh`ip -d -j link show dev ${d.name}`,
    slaves: sh`ip -j link show master ${d.name} 2>/dev/null || echo '[]'`,
    ...Object.fromEntries(Object.entries(detectors).map(([name, m]) => [name, m.fact(d.interfaces)])),
    dhcpClients: sh`PATH=$PATH:/usr/sbin:/sbin; for c in dhclient dhcpcd; do command -v $c >/dev/null 2>&1 && echo $c; done; true`,
    // Our networkd drop-ins live beside whatever .network file networkd uses: every candidate is
    // listed, so one left by an earlier owner is seen (and removed).
    files: join(
      candidates(d, { owners: {}, dhcpClients: ["dhclient", "dhcpcd"] })
        .map(cat)
        .concat(
          // VRF names are validated to [A-Za-z0-9_.:@-]: safe unquoted in this glob.
          sh`for f in /etc/systemd/network/*.network.d/50-hosttune-vrf-${raw(d.name)}.conf; do
  [ -e "$f" ] || continue; printf '\036file %s\n' "$f"; cat "$f"; printf '\n\036end 0\n'
done`,
        ),
    ),
    sysctl: sh`sysctl -n net.ipv4.tcp_l3mdev_accept net.ipv4.udp_l3mdev_accept`,
    vrfSupport: sh`[ -d /sys/module/vrf ] || modinfo -n vrf`,
    resolved: sh`if ! systemctl cat systemd-resolved.service >/dev/null 2>&1; then echo absent
elif systemctl is-active -q systemd-resolved; then echo active
else echo inactive; fi`,
    resolvConf: sh`if [ -L /etc/resolv.conf ]; then printf 'link %s' "$(readlink /etc/resolv.conf)"
elif [ -e /etc/resolv.conf ]; then printf 'file\n'; cat /etc/resolv.conf
else exit 3; fi`,
    upstream: sh`sed -n 's/^nameserver[[:space:]]*//p' /run/systemd/resolve/resolv.conf 2>/dev/null; true`,
    rules4: sh`ip -j -4 rule show`,
    rules6: sh`ip -j -6 rule show`,
    rulesUnit: sh`systemctl is-enabled ${`hosttune-vrf-${d.name}-rules.service`} 2>/dev/null; true`,
    routes: join(
      d.interfaces.map(
        (i) =>
          sh`for f in -4 -6; do printf '%s ' ${i}; ip -j $f route show table all dev ${i} 2>/dev/null || echo '[]'; done`,
      ),
    ),
  };
}

function parseFiles(out: string): Record<string, string | null> {
  const files: Record<string, string | null> = {};
  for (const chunk of out.split("\x1efile ").slice(1)) {
    const nl = chunk.indexOf("\n");
    const path = chunk.slice(0, nl);
    const body = chunk.slice(nl + 1);
    const end = body.lastIndexOf("\n\x1eend ");
    files[path] = body.slice(end + 6, end + 7) === "3" ? null : body.slice(0, end);
  }
  return files;
}

type Rule = { priority: number; table?: string; l3mdev?: null };
const prefs = (json: string, is: (r: Rule) => boolean) =>
  (JSON.parse(json || "[]") as Rule[]).filter(is).map((r) => r.priority);
const rulePrefs = (facts: Facts, is: (r: Rule) => boolean) => ({
  v4: prefs(fact(facts, "rules4").out, is),
  v6: prefs(fact(facts, "rules6").out, is),
});

/** Each interface's owners, from every detector's fact (a fact a capture lacks: no owner there). */
function parseOwners(facts: Facts, d: ManagementVrfDesired): Record<string, Owner[]> {
  const owners: Record<string, Owner[]> = Object.fromEntries(d.interfaces.map((i) => [i, []]));
  for (const [name, m] of Object.entries(detectors))
    for (const [i, o] of Object.entries(m.owners(facts[name]?.out ?? ""))) owners[i]?.push(o);
  return owners;
}

export function observe(facts: Facts, d: ManagementVrfDesired): ManagementVrfObserved {
  const link = fact(facts, "link");
  const info = link.rc === 0 ? JSON.parse(link.out)[0] : null;
  if (!info && facts.vrfSupport && facts.vrfSupport.rc !== 0)
    throw new Error(
      "this kernel has no VRF support (no vrf module, CONFIG_NET_VRF); " +
        "install the kernel's extra modules package (e.g. linux-modules-extra) or a kernel with VRF",
    );
  const host: HostView = {
    owners: parseOwners(facts, d),
    dhcpClients: (facts.dhcpClients?.out ?? "").split("\n").filter(Boolean),
  };
  const found = parseFiles(fact(facts, "files").out);
  const paths = new Set([...candidates(d, host), ...Object.keys(found)]);
  const files = Object.fromEntries([...paths].map((p) => [p, found[p] ?? null]));
  const [tcp, udp] = fact(facts, "sysctl").out.trim().split("\n");
  return {
    link: info ? { kind: info.linkinfo?.info_kind ?? "", table: info.linkinfo?.info_data?.table ?? null } : null,
    slaves: (JSON.parse(fact(facts, "slaves").out || "[]") as { ifname: string }[]).map((l) => l.ifname).sort(),
    ...host,
    files,
    sysctl: { tcp, udp },
    localRule: rulePrefs(facts, (r) => r.table === "local"),
    l3mdevRule: rulePrefs(facts, (r) => "l3mdev" in r),
    rulesUnitEnabled: fact(facts, "rulesUnit").out.trim() === "enabled",
    routes: parseRoutes(facts.routes?.out ?? ""),
    resolver: parseResolver(facts),
  };
}

/** `IFACE [json]` lines; a route listed without a table is in main. */
function parseRoutes(out: string): Route[] {
  return out
    .split("\n")
    .filter((l) => l.includes(" "))
    .flatMap((line) => {
      const dev = line.slice(0, line.indexOf(" "));
      const routes = JSON.parse(line.slice(dev.length + 1) || "[]") as (Omit<Route, "dev" | "table"> & {
        table?: string;
        protocol?: string;
      })[];
      return routes.filter((r) => r.protocol !== "ra").map((r) => ({ dev, dst: r.dst, table: r.table ?? "main" }));
    });
}

function parseResolver(facts: Facts): ResolverState {
  const conf = facts.resolvConf;
  let resolvConf: ResolverState["resolvConf"] = { content: null };
  if (conf && conf.rc === 0)
    resolvConf = conf.out.startsWith("link ")
      ? { link: conf.out.slice(5) }
      : { content: conf.out.slice("file\n".length) };
  return {
    resolved: (facts.resolved?.out.trim() as ResolverState["resolved"]) || "absent",
    resolvConf,
    upstream: (facts.upstream?.out ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean),
  };
}
