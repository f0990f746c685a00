// Pure planning for BfqScheduler: load bfq if needed, select it per disk, persist with a udev
// rule on SUBSYSTEM=="block" that matches the same set; restore each disk's old scheduler.
import { udevRuleFileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import type { Step } from "../core/steps";
import type { BfqSchedulerObserved } from "./probe";
import { type BfqSchedulerDesired, RULES_DIR } from "./schema";

export interface BfqSchedulerTarget {
  disks: Record<string, string>;
  rule: string | null;
}

/** The udev rule selecting bfq for the same set the selector matches at runtime. */
export function renderRule(d: BfqSchedulerDesired): string {
  const m = ['ACTION=="add|change"', 'SUBSYSTEM=="block"', 'ENV{DEVTYPE}=="disk"'];
  if (d.match) m.push(`KERNEL=="${d.match}"`);
  if (d.rotational !== undefined) m.push(`ATTR{queue/rotational}=="${d.rotational ? 1 : 0}"`);
  if (d.removable !== undefined) m.push(`ATTR{removable}=="${d.removable ? 1 : 0}"`);
  // A second hardware queue has the directory mq/1.
  if (d.singleQueue !== undefined) m.push(`TEST${d.singleQueue ? "!=" : "=="}"mq/1"`);
  return `# Managed by hosttune (BfqScheduler): bfq for matching disks when they appear.\n${m.join(", ")}, ATTR{queue/scheduler}="bfq"\n`;
}

export function want(d: BfqSchedulerDesired, o: BfqSchedulerObserved): BfqSchedulerTarget {
  return { disks: Object.fromEntries(Object.keys(o.disks).map((n) => [n, "bfq"])), rule: renderRule(d) };
}

/** Each disk back to its recorded scheduler, found by hardware path (sd* names can swap at boot). */
export function restore(
  _d: BfqSchedulerDesired,
  recorded: BfqSchedulerObserved,
  current: BfqSchedulerObserved,
): BfqSchedulerTarget {
  const byPath = new Map(Object.values(recorded.disks).map((disk) => [disk.path, disk.scheduler]));
  return {
    disks: Object.fromEntries(
      Object.entries(current.disks).flatMap(([n, disk]) =>
        byPath.has(disk.path) ? [[n, byPath.get(disk.path)!]] : [],
      ),
    ),
    rule: recorded.rule,
  };
}

export function plan(t: BfqSchedulerTarget, o: BfqSchedulerObserved, d: BfqSchedulerDesired): Step[] {
  const steps: Step[] = [];
  const changes = Object.entries(t.disks).filter(([n, s]) => o.disks[n]?.scheduler !== s);
  if (changes.some(([, s]) => s === "bfq") && o.bfq === "module")
    steps.push({ describe: "modprobe bfq", run: sh`modprobe bfq` });
  for (const [n, s] of changes)
    steps.push({
      describe: `select ${s} for ${n} (was ${o.disks[n].scheduler})`,
      run: sh`echo ${s} > ${`/sys/block/${n}/queue/scheduler`}`,
    });
  return [...steps, ...udevRuleFileSteps(`${RULES_DIR}/${d.ruleFile}`, t.rule, o.rule)];
}

export function drift(t: BfqSchedulerTarget, o: BfqSchedulerObserved): Drift[] {
  const out: Drift[] = [];
  for (const [n, s] of Object.entries(t.disks))
    if (o.disks[n] && o.disks[n].scheduler !== s)
      out.push({ field: `${n} scheduler`, asked: s, got: o.disks[n].scheduler });
  if (o.rule !== t.rule) out.push({ field: "udev rule", asked: t.rule, got: o.rule });
  return out;
}
