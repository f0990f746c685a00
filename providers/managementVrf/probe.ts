// Facts for ManagementVrf: the VRF link and its slaves, the networkd file that manages each
// interface, our files, the l3mdev sysctls, the local-table rules and the VRF's default routes.
import { fact, type Facts } from "../core/facts";
import { join, raw, sh, type Raw } from "../core/quote";
import { type ManagementVrfDesired, paths } from "./schema";

export interface ManagementVrfObserved {
  link: { kind: string; table: number | null } | null;
  slaves: string[];
  /** networkd's .network file per interface (null: not managed by networkd). */
  networkFiles: Record<string, string | null>;
  /** Content of every file we manage, by path (null: absent). */
  files: Record<string, string | null>;
  sysctl: { tcp: string; udp: string };
  /** Priorities of the `lookup local` rules, IPv4 and IPv6. */
  localRule: { v4: number[]; v6: number[] };
  /** Priorities of the l3mdev rules: the kernel adds them with a netns's first VRF only. */
  l3mdevRule: { v4: number[]; v6: number[] };
  rulesUnitEnabled: boolean;
  /** Default routes in the VRF's table. */
  vrfDefaults: number;
  resolver: ResolverState;
}

export interface ResolverState {
  /** systemd-resolved active and enabled ("absent": not installed). */
  resolved: "active" | "inactive" | "absent";
  /** /etc/resolv.conf: a symlink's target, or a file's content. */
  resolvConf: { link: string } | { content: string | null };
  /** Upstream servers systemd-resolved uses (its /run/systemd/resolve/resolv.conf). */
  upstream: string[];
}

const managedFiles = (d: ManagementVrfDesired, networkFiles: Record<string, string | null>) => {
  const p = paths(d);
  return [
    p.netdev,
    p.network,
    p.sysctl,
    p.rulesUnit,
    ...Object.values(networkFiles).flatMap((f) => (f ? [p.dropIn(f)] : [])),
  ];
};

export function probeFacts(d: ManagementVrfDesired): Record<string, Raw> {
  const p = paths(d);
  const cat = (path: string) =>
    sh`printf '\036file %s\n' ${path}; if [ -e ${path} ]; then cat ${path}; printf '\n\036end 0\n'; else printf '\n\036end 3\n'; fi`;
  return {
    link: sh`ip -d -j link show dev ${d.name}`,
    slaves: sh`ip -j link show master ${d.name} 2>/dev/null || echo '[]'`,
    networkFiles: join(
      d.interfaces.map(
        (i) =>
          sh`printf '%s ' ${i}; networkctl status -- ${i} 2>/dev/null | sed -n 's/^ *Network File: //p' | head -1; echo`,
      ),
    ),
    // Our drop-ins live beside whatever .network file networkd uses; list every candidate.
    files: join(
      [p.netdev, p.network, p.sysctl, p.rulesUnit].map(cat).concat(
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
    vrfRoutes: sh`{ ip -j -4 route show table ${d.table} default; ip -j -6 route show table ${d.table} default; } 2>/dev/null | tr '\n' ' '`,
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

export function observe(facts: Facts, d: ManagementVrfDesired): ManagementVrfObserved {
  const link = fact(facts, "link");
  const info = link.rc === 0 ? JSON.parse(link.out)[0] : null;
  if (!info && facts.vrfSupport && facts.vrfSupport.rc !== 0)
    throw new Error(
      "this kernel has no VRF support (no vrf module, CONFIG_NET_VRF); " +
        "install the kernel's extra modules package (e.g. linux-modules-extra) or a kernel with VRF",
    );
  const networkFiles = Object.fromEntries(
    fact(facts, "networkFiles")
      .out.split("\n")
      .filter(Boolean)
      .map((l) => {
        const [i, f] = l.split(" ");
        return [i, f || null];
      }),
  );
  for (const i of d.interfaces)
    if (!networkFiles[i])
      throw new Error(
        `interface ${i} is not managed by systemd-networkd (no .network file); hosttune persists the VRF through networkd, so configure ${i} there first`,
      );
  const found = parseFiles(fact(facts, "files").out);
  const files = Object.fromEntries(managedFiles(d, networkFiles).map((p) => [p, found[p] ?? null]));
  const [tcp, udp] = fact(facts, "sysctl").out.trim().split("\n");
  const routes = fact(facts, "vrfRoutes").out;
  return {
    link: info ? { kind: info.linkinfo?.info_kind ?? "", table: info.linkinfo?.info_data?.table ?? null } : null,
    slaves: (JSON.parse(fact(facts, "slaves").out || "[]") as { ifname: string }[]).map((l) => l.ifname).sort(),
    networkFiles,
    files,
    sysctl: { tcp, udp },
    localRule: rulePrefs(facts, (r) => r.table === "local"),
    l3mdevRule: rulePrefs(facts, (r) => "l3mdev" in r),
    rulesUnitEnabled: fact(facts, "rulesUnit").out.trim() === "enabled",
    vrfDefaults: (routes.match(/"dst":"default"/g) ?? []).length,
    resolver: parseResolver(facts),
  };
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
