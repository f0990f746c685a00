import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { nicCoalescingSchema, type NicCoalescingDesired } from "./schema";

export const nicCoalescingSpec = defineSpec(
  "NicCoalescing",
  nicCoalescingSchema,
  (d: NicCoalescingDesired) => `coalescing/${d.interface ?? d.match ?? "*"}${d.driver ? `@${d.driver}` : ""}`,
  probe,
  planner,
);
