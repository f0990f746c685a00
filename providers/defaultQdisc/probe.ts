// Facts for DefaultQdisc: the runtime value, our file, every sysctl.d assignment of the key
// (to know what applies at boot), whether the kernel has the qdisc, and root qdiscs per device.
import { fileContent, fileFact } from "../core/files";
import { fact, type Facts, type FactSources, inShell, readFile } from "../core/facts";
import { globMatch } from "../core/glob";
import { sh } from "../core/quote";
import { BUILTIN_QDISCS, type DefaultQdiscDesired, KEY, SYSCTL_DIR } from "./schema";

export interface DefaultQdiscObserved {
  runtime: string;
  /** Content of our sysctl.d file, null when absent. */
  file: string | null;
  /** What systemd-sysctl applies at boot, and from which file. */
  persisted: { value: string | null; from: string | null };
  /** Root qdisc kind of each existing device matched by reapplyTo. */
  devices: Record<string, string>;
}

// systemd-sysctl order: files sorted by name across these dirs; for one name, the first dir wins.
const SYSCTL_DIRS = ["/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"];

// Read by the shell itself: what `sysctl -n` prints, without its process.
const RUNTIME = `/proc/sys/${KEY.replace(/\./g, "/")}`;

export function probeFacts(d: DefaultQdiscDesired): FactSources {
  const mod = `sch_${d.qdisc}`;
  const path = `${SYSCTL_DIR}/${d.fileName}`;
  return {
    runtime: inShell(readFile(RUNTIME)),
    available: inShell(
      BUILTIN_QDISCS.includes(d.qdisc) ? sh`return 0` : sh`[ -d /sys/module/${mod} ] || modinfo -n ${mod}`,
    ),
    file: fileFact(path),
    // One grep over every file: a process per file costs milliseconds each on some hosts.
    persisted:
      inShell(sh`set --; for ht_d in ${SYSCTL_DIRS}; do for ht_f in "$ht_d"/*.conf; do [ -f "$ht_f" ] && set -- "$@" "$ht_f"; done; done
[ $# -eq 0 ] || grep -H -E '^[[:space:]]*-?net[./]core[./]default_qdisc[[:space:]]*=' "$@"; return 0`),
    devices: d.reapplyTo ? sh`tc -j qdisc show` : inShell(sh`echo '[]'`),
  };
}

/** The value systemd-sysctl applies at boot: the last assignment in name order, /etc beating /run beating /usr. */
export function effectiveSysctl(grepOutput: string): { value: string | null; from: string | null } {
  const byName = new Map<string, { path: string; value: string }>();
  for (const line of grepOutput.split("\n")) {
    const m = /^(\/[^:]+):\s*-?[\w./]+\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const [, path, value] = m;
    const name = path.slice(path.lastIndexOf("/") + 1);
    const dirRank = SYSCTL_DIRS.indexOf(path.slice(0, path.lastIndexOf("/")));
    const seen = byName.get(name);
    const seenRank = seen ? SYSCTL_DIRS.indexOf(seen.path.slice(0, seen.path.lastIndexOf("/"))) : Infinity;
    // Within a file the last assignment wins; across dirs the highest-priority dir wins.
    if (!seen || dirRank < seenRank || seen.path === path) byName.set(name, { path, value });
  }
  const names = [...byName.keys()].sort();
  const last = names.length ? byName.get(names[names.length - 1])! : null;
  return { value: last?.value ?? null, from: last?.path ?? null };
}

interface TcQdisc {
  kind: string;
  handle: string;
  dev: string;
  root?: boolean;
  parent?: string;
}

/** Root qdisc kind per device; for mq roots, the kind of their per-queue children. */
export function rootKinds(tcJson: string, glob: string | undefined): Record<string, string> {
  if (!glob) return {};
  const qdiscs = JSON.parse(tcJson || "[]") as TcQdisc[];
  const out: Record<string, string> = {};
  for (const q of qdiscs) {
    if (!q.root || q.dev === "lo" || !globMatch(glob, q.dev)) continue;
    // mq (handle 0:) has one child per tx queue, parented ":1", ":2", ...
    const children = q.kind === "mq" ? qdiscs.filter((c) => c.dev === q.dev && !c.root && c.parent !== undefined) : [];
    out[q.dev] = children.length ? children[0].kind : q.kind;
  }
  return out;
}

export function observe(facts: Facts, d: DefaultQdiscDesired): DefaultQdiscObserved {
  const runtime = fact(facts, "runtime");
  if (runtime.rc !== 0) throw new Error(`cannot read ${KEY}: ${runtime.out.trim()}`);
  if (fact(facts, "available").rc !== 0)
    throw new Error(
      `the kernel has no qdisc '${d.qdisc}' (not built in, no module sch_${d.qdisc}); choose another qdisc or install a kernel that has it`,
    );
  const file = fact(facts, "file");
  const devices = fact(facts, "devices");
  if (devices.rc !== 0) throw new Error(`tc -j qdisc show failed: ${devices.out.trim()}`);
  return {
    runtime: runtime.out.trim(),
    file: fileContent(file),
    persisted: effectiveSysctl(fact(facts, "persisted").out),
    devices: rootKinds(devices.out, d.reapplyTo),
  };
}
