import type { ResourceSpec } from "../core/spec";
import { drift, plan, restore, want, type ManagementVrfTarget } from "./plan";
import { observe, probeFacts, type ManagementVrfObserved } from "./probe";
import { managementVrfSchema, type ManagementVrfDesired } from "./schema";

export const managementVrfSpec: ResourceSpec<ManagementVrfDesired, ManagementVrfObserved, ManagementVrfTarget> = {
  kind: "ManagementVrf",
  schema: managementVrfSchema,
  id: (d) => `vrf/${d.name}`,
  facts: probeFacts,
  observe,
  want,
  restore,
  plan,
  drift,
  commitConfirmed: {
    timeoutSeconds: (d) => d.confirmTimeout,
    // The full idempotent sequence back to what the host had when this change started.
    rollback: (d, before) => plan(restore(d, before), undefined, d),
  },
};
