import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { udevRuleSchema, type UdevRuleDesired } from "./schema";

export const udevRuleSpec = defineSpec(
  "UdevRule",
  udevRuleSchema,
  (d: UdevRuleDesired) => `udev-rule/${d.fileName}`,
  probe,
  planner,
);
