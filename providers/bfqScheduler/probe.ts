// Facts for BfqScheduler: every whole block device with its scheduler list, rotational and
// removable flags and hardware queue count (the set is resolved on every probe), whether bfq
// is built in, loaded or loadable, and our udev rule.
import { fileContent, fileFact } from "../core/files";
import { fact, type Facts, type FactSources } from "../core/facts";
import { globMatch } from "../core/glob";
import { sh } from "../core/quote";
import { type BfqSchedulerDesired, RULES_DIR } from "./schema";

export interface Disk {
  /** The active scheduler (the bracketed one). */
  scheduler: string;
  available: string[];
  rotational: boolean;
  removable: boolean;
  queues: number;
  /** The disk's hardware path in sysfs: stable across boots, where sd* names are not. */
  path: string;
}

export interface BfqSchedulerObserved {
  /** The disks the selector matches, by name. */
  disks: Record<string, Disk>;
  /** loaded: bfq is registered; module: loadable with modprobe; absent: this kernel has no bfq. */
  bfq: "loaded" | "module" | "absent";
  rule: string | null;
}

export function probeFacts(d: BfqSchedulerDesired): FactSources {
  const rule = `${RULES_DIR}/${d.ruleFile}`;
  return {
    disks: sh`for b in /sys/block/*; do
  [ -e "$b/queue/scheduler" ] || continue
  q=0; [ -d "$b/mq" ] && q=$(ls "$b/mq" | wc -l)
  printf '%s|%s|%s|%s|%s|%s\n' "$(basename "$b")" "$(cat "$b/queue/scheduler")" \
    "$(cat "$b/queue/rotational")" "$(cat "$b/removable")" "$q" "$(readlink -f "$b")"
done`,
    bfq: sh`if grep -qw bfq /sys/block/*/queue/scheduler 2>/dev/null || [ -d /sys/module/bfq ]; then echo loaded
elif modinfo -n bfq >/dev/null 2>&1; then echo module
else echo absent; fi`,
    rule: fileFact(rule),
  };
}

export function parseDisks(out: string): Record<string, Disk> {
  const disks: Record<string, Disk> = {};
  for (const line of out.split("\n")) {
    const [name, sched, rot, rem, queues, devpath] = line.split("|");
    if (!queues) continue;
    const available = sched
      .trim()
      .split(/\s+/)
      .map((s) => s.replace(/^\[|\]$/g, ""));
    const active = /\[([^\]]+)\]/.exec(sched)?.[1] ?? "none";
    const path = devpath ? devpath.replace(new RegExp(`/block/${name}$`), "") : name;
    disks[name] = {
      scheduler: active,
      available,
      rotational: rot === "1",
      removable: rem === "1",
      queues: Number(queues),
      path,
    };
  }
  return disks;
}

export function selects(d: BfqSchedulerDesired, name: string, disk: Disk): boolean {
  if (d.match && !globMatch(d.match, name)) return false;
  if (d.rotational !== undefined && disk.rotational !== d.rotational) return false;
  if (d.removable !== undefined && disk.removable !== d.removable) return false;
  if (d.singleQueue !== undefined && (disk.queues === 1) !== d.singleQueue) return false;
  return true;
}

export function observe(facts: Facts, d: BfqSchedulerDesired): BfqSchedulerObserved {
  const all = parseDisks(fact(facts, "disks").out);
  const disks = Object.fromEntries(Object.entries(all).filter(([n, disk]) => selects(d, n, disk)));
  const bfq = fact(facts, "bfq").out.trim() as BfqSchedulerObserved["bfq"];
  if (bfq === "absent" && Object.keys(disks).length)
    throw new Error(
      "this kernel has no bfq I/O scheduler (not built in, no bfq module); install a kernel with CONFIG_IOSCHED_BFQ",
    );
  // With bfq registered, a matched disk whose list still lacks it cannot use it (e.g. no scheduler at all).
  if (bfq === "loaded")
    for (const [n, disk] of Object.entries(disks))
      if (!disk.available.includes("bfq"))
        throw new Error(
          `${n} cannot use bfq: its schedulers are ${disk.available.join(", ")}; narrow the selector to exclude it`,
        );
  const rule = fact(facts, "rule");
  return { disks, bfq, rule: fileContent(rule) };
}
