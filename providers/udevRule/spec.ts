import type { ResourceSpec } from "../core/spec";
import { drift, plan, restore, want, type UdevRuleTarget } from "./plan";
import { observe, probeFacts, type UdevRuleObserved } from "./probe";
import { udevRuleSchema, type UdevRuleDesired } from "./schema";

export const udevRuleSpec: ResourceSpec<UdevRuleDesired, UdevRuleObserved, UdevRuleTarget> = {
  kind: "UdevRule",
  schema: udevRuleSchema,
  id: (d) => `udev-rule/${d.fileName}`,
  facts: probeFacts,
  observe,
  want,
  restore,
  plan,
  drift,
};
