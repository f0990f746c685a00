import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { managementVrfSchema, type ManagementVrfDesired } from "./schema";
import type { z } from "zod";

export const managementVrfSpec = defineSpec<
  ManagementVrfDesired,
  probe.ManagementVrfObserved,
  planner.ManagementVrfTarget,
  z.input<typeof managementVrfSchema>
>("ManagementVrf", managementVrfSchema, (d) => `vrf/${d.name}`, probe, planner, {
  commitConfirmed: {
    timeoutSeconds: (d) => d.confirmTimeout,
    // The full idempotent sequence back to what the host had when this change started.
    rollback: (d, before) => planner.plan(planner.restore(d, before), undefined, d),
    hint: "The change cuts the SSH path: check that sshd stays reachable (e.g. l3mdevAccept.tcp on, the SSH interface's routes in the VRF)",
  },
});
