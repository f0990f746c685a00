// Pure planning for VrfBoundSystemdUnit: a drop-in that resets ExecStart and wraps each
// original line in `ip vrf exec`, daemon-reload, restart per policy; verify by the VRF of the
// main process.
import { fileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import type { Step } from "../core/steps";
import { wrapExecStart } from "./execStart";
import type { VrfBoundSystemdUnitObserved } from "./probe";
import { dropInDir, type VrfBoundSystemdUnitDesired } from "./schema";

export interface VrfBoundSystemdUnitTarget {
  dropIn: string | null;
  /** The VRF the running main process must be in; null: not asserted (not restarted now, or inactive). */
  pidVrf: string | null;
}

export function renderDropIn(d: VrfBoundSystemdUnitDesired, o: VrfBoundSystemdUnitObserved): string {
  const dev = `sys-subsystem-net-devices-${d.vrf}.device`;
  return [
    `# Managed by hosttune (VrfBoundSystemdUnit): runs ${d.unit} inside VRF ${d.vrf}.`,
    "[Unit]",
    `Wants=${dev}`,
    `After=${dev}`,
    "",
    "[Service]",
    "ExecStart=",
    ...o.execStart.map((l) => `ExecStart=${wrapExecStart(l, o.ip, d.vrf)}`),
    "",
  ].join("\n");
}

export const restarting = (d: VrfBoundSystemdUnitDesired, o: VrfBoundSystemdUnitObserved) =>
  d.restart === "now" && o.activeState === "active";

const restart = (d: VrfBoundSystemdUnitDesired): Step => ({
  describe: `systemctl restart ${d.unit}`,
  run: sh`systemctl restart -- ${d.unit}`,
});

export function want(d: VrfBoundSystemdUnitDesired, o: VrfBoundSystemdUnitObserved): VrfBoundSystemdUnitTarget {
  return { dropIn: renderDropIn(d, o), pidVrf: restarting(d, o) ? d.vrf : null };
}

export function restore(
  d: VrfBoundSystemdUnitDesired,
  recorded: VrfBoundSystemdUnitObserved,
  current: VrfBoundSystemdUnitObserved,
): VrfBoundSystemdUnitTarget {
  return { dropIn: recorded.dropIn, pidVrf: restarting(d, current) ? recorded.pidVrf : null };
}

export function plan(
  t: VrfBoundSystemdUnitTarget,
  o: VrfBoundSystemdUnitObserved,
  d: VrfBoundSystemdUnitDesired,
): Step[] {
  const steps: Step[] = fileSteps(`${dropInDir(d.unit)}/${d.dropInName}`, t.dropIn, o.dropIn);
  if (steps.length) steps.push({ describe: "systemctl daemon-reload", run: sh`systemctl daemon-reload` });
  if (t.pidVrf !== null && (steps.length || o.pidVrf !== t.pidVrf)) steps.push(restart(d));
  return steps;
}

/** The host's own rollback of a restart: the drop-in as it was, reload, restart (idempotent). */
export function rollback(d: VrfBoundSystemdUnitDesired, before: VrfBoundSystemdUnitObserved): Step[] {
  return [
    ...fileSteps(`${dropInDir(d.unit)}/${d.dropInName}`, before.dropIn, before.dropIn === null ? "" : null),
    { describe: "systemctl daemon-reload", run: sh`systemctl daemon-reload` },
    restart(d),
  ];
}

export function drift(t: VrfBoundSystemdUnitTarget, o: VrfBoundSystemdUnitObserved): Drift[] {
  const out: Drift[] = [];
  if (o.dropIn !== t.dropIn) out.push({ field: "drop-in", asked: t.dropIn, got: o.dropIn });
  if (t.pidVrf !== null && o.pidVrf !== t.pidVrf)
    out.push({
      field: `VRF of the main process (pid ${o.mainPid})`,
      asked: t.pidVrf || "default",
      got: o.pidVrf || "default",
    });
  return out;
}
