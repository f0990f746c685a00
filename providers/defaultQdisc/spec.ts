import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { defaultQdiscSchema, type DefaultQdiscDesired } from "./schema";

export const defaultQdiscSpec = defineSpec(
  "DefaultQdisc",
  defaultQdiscSchema,
  (d: DefaultQdiscDesired) => `default-qdisc/${d.fileName}`,
  probe,
  planner,
);
