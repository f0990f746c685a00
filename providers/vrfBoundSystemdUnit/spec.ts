import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { vrfBoundSystemdUnitSchema, type VrfBoundSystemdUnitDesired } from "./schema";

// Units that serve SSH under their usual names: confirmed even when the probe cannot tell
// (our connection came in some other way, or through a process the unit does not own).
const SSH_UNITS = ["ssh.service", "sshd.service"];

export const vrfBoundSystemdUnitSpec = defineSpec(
  "VrfBoundSystemdUnit",
  vrfBoundSystemdUnitSchema,
  (d: VrfBoundSystemdUnitDesired) => `vrf-unit/${d.unit}`,
  probe,
  planner,
  {
    // Restarting the unit that serves our connection proves nothing over that connection (it
    // survives the restart): a fresh one must get in, or the host puts the unit back.
    commitConfirmed: {
      when: (d, before) => planner.restarting(d, before) && (before.servesUs || SSH_UNITS.includes(d.unit)),
      timeoutSeconds: (d) => d.confirmTimeout,
      rollback: planner.rollback,
      hint: "The restarted unit serves SSH: check that the VRF carries the SSH path (the interface SSH comes in on is enslaved to it)",
    },
  },
);
