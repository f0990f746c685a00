import type { ResourceSpec } from "../core/spec";
import { drift, plan, restore, want, type NicCoalescingTarget } from "./plan";
import { observe, probeFacts, type NicCoalescingObserved } from "./probe";
import { nicCoalescingSchema, type NicCoalescingDesired } from "./schema";

export const nicCoalescingSpec: ResourceSpec<NicCoalescingDesired, NicCoalescingObserved, NicCoalescingTarget> = {
  kind: "NicCoalescing",
  schema: nicCoalescingSchema,
  id: (d) => `coalescing/${d.interface ?? d.match ?? "*"}${d.driver ? `@${d.driver}` : ""}`,
  facts: probeFacts,
  observe,
  want,
  restore,
  plan,
  drift,
};
