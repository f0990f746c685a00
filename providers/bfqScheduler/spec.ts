import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { bfqSchedulerSchema, type BfqSchedulerDesired } from "./schema";

export const bfqSchedulerSpec = defineSpec(
  "BfqScheduler",
  bfqSchedulerSchema,
  (d: BfqSchedulerDesired) => `bfq/${d.ruleFile}`,
  probe,
  planner,
);
