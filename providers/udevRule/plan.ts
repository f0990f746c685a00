// Pure planning for UdevRule: write (atomically) or restore the file, reload udev, and trigger
// only the devices the trigger scope names.
import { udevRuleFileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import type { Step } from "../core/steps";
import type { UdevRuleObserved } from "./probe";
import { RULES_DIR, ruleText, type UdevRuleDesired } from "./schema";

export interface UdevRuleTarget {
  file: string | null;
}

export function want(d: UdevRuleDesired, o: UdevRuleObserved): UdevRuleTarget {
  if (o.rejected !== null) throw new Error(`udev rejects ${d.fileName}; nothing was changed. udev says: ${o.rejected}`);
  return { file: ruleText(d) };
}

export function restore(_d: UdevRuleDesired, recorded: UdevRuleObserved): UdevRuleTarget {
  return { file: recorded.file };
}

export function triggerCommand(t: NonNullable<UdevRuleDesired["trigger"]>) {
  const args = [`--action=${t.action}`];
  if (t.subsystem) args.push(`--subsystem-match=${t.subsystem}`);
  if (t.sysname) args.push(`--sysname-match=${t.sysname}`);
  for (const [k, v] of Object.entries(t.properties ?? {})) args.push(`--property-match=${k}=${v}`);
  return sh`udevadm trigger ${args} && udevadm settle --timeout=60`;
}

export function plan(t: UdevRuleTarget, o: UdevRuleObserved, d: UdevRuleDesired): Step[] {
  const steps = udevRuleFileSteps(`${RULES_DIR}/${d.fileName}`, t.file, o.file);
  if (steps.length && d.trigger)
    steps.push({
      describe: `udevadm trigger (${Object.entries(d.trigger)
        .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
        .join(", ")})`,
      run: triggerCommand(d.trigger),
    });
  return steps;
}

export function drift(t: UdevRuleTarget, o: UdevRuleObserved): Drift[] {
  return o.file === t.file ? [] : [{ field: "file", asked: t.file, got: o.file }];
}
