import type { ResourceSpec } from "../core/spec";
import { drift, plan, restore, want, type BfqSchedulerTarget } from "./plan";
import { observe, probeFacts, type BfqSchedulerObserved } from "./probe";
import { bfqSchedulerSchema, type BfqSchedulerDesired } from "./schema";

export const bfqSchedulerSpec: ResourceSpec<BfqSchedulerDesired, BfqSchedulerObserved, BfqSchedulerTarget> = {
  kind: "BfqScheduler",
  schema: bfqSchedulerSchema,
  id: (d) => `bfq/${d.ruleFile}`,
  facts: probeFacts,
  observe,
  want,
  restore,
  plan,
  drift,
};
