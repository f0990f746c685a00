// Pure planning for DefaultQdisc: (target, observed) -> steps, and the drift check that
// verify and diff share.
import { fileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import type { Step } from "../core/steps";
import type { DefaultQdiscObserved } from "./probe";
import { type DefaultQdiscDesired, KEY, SYSCTL_DIR } from "./schema";

export interface DefaultQdiscTarget {
  runtime: string;
  /** Our file's content, or null for no file. */
  file: string | null;
  /** The value that must apply at boot (null: nothing to assert). */
  persisted: string | null;
  /** Devices whose root qdisc must become this kind. */
  devices: Record<string, string>;
}

export function renderFile(qdisc: string): string {
  return `# Managed by hosttune (DefaultQdisc): the root qdisc that new network devices get.\n${KEY} = ${qdisc}\n`;
}

function devicesAs(kind: string, devices: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(devices).map((dev) => [dev, kind]));
}

export function want(d: DefaultQdiscDesired, o: DefaultQdiscObserved): DefaultQdiscTarget {
  return { runtime: d.qdisc, file: renderFile(d.qdisc), persisted: d.qdisc, devices: devicesAs(d.qdisc, o.devices) };
}

/** Back to what create found: the old runtime value and file; devices that had the old default get the restored default. */
export function restore(
  _d: DefaultQdiscDesired,
  recorded: DefaultQdiscObserved,
  current: DefaultQdiscObserved,
): DefaultQdiscTarget {
  const hadDefault = Object.fromEntries(
    Object.entries(recorded.devices).filter(([dev, kind]) => kind === recorded.runtime && dev in current.devices),
  );
  // What applies at boot after restore belongs to the other files again: nothing to assert.
  return {
    runtime: recorded.runtime,
    file: recorded.file,
    persisted: null,
    devices: devicesAs(recorded.runtime, hadDefault),
  };
}

export function plan(t: DefaultQdiscTarget, o: DefaultQdiscObserved, d: DefaultQdiscDesired): Step[] {
  const path = `${SYSCTL_DIR}/${d.fileName}`;
  const steps: Step[] = fileSteps(path, t.file, o.file);
  if (o.runtime !== t.runtime)
    steps.push({ describe: `sysctl -w ${KEY}=${t.runtime}`, run: sh`sysctl -q -w ${KEY + "=" + t.runtime}` });
  for (const [dev, kind] of Object.entries(t.devices)) {
    if (o.devices[dev] === kind) continue;
    // Replacing the root and deleting it makes the kernel attach the (new) default, exactly
    // as for a new device (mq with per-queue children on multiqueue NICs).
    steps.push({
      describe: `re-attach the default qdisc (${kind}) on ${dev}`,
      run: sh`tc qdisc replace dev ${dev} root handle 1: pfifo && tc qdisc del dev ${dev} root`,
    });
  }
  return steps;
}

export function drift(t: DefaultQdiscTarget, o: DefaultQdiscObserved): Drift[] {
  const out: Drift[] = [];
  if (o.runtime !== t.runtime) out.push({ field: `runtime ${KEY}`, asked: t.runtime, got: o.runtime });
  if (o.file !== t.file) out.push({ field: "file", asked: t.file, got: o.file });
  else if (t.persisted !== null && o.persisted.value !== t.persisted)
    out.push({
      field: o.persisted.from
        ? `value applied at boot (the last assignment is in ${o.persisted.from}: remove it there or choose a fileName that sorts after it)`
        : "value applied at boot (no sysctl.d file sets it)",
      asked: t.persisted,
      got: o.persisted.value,
    });
  for (const [dev, kind] of Object.entries(t.devices))
    if (o.devices[dev] !== undefined && o.devices[dev] !== kind)
      out.push({ field: `root qdisc of ${dev}`, asked: kind, got: o.devices[dev] });
  return out;
}
