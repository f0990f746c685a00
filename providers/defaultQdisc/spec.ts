import type { ResourceSpec } from "../core/spec";
import { drift, plan, restore, want, type DefaultQdiscTarget } from "./plan";
import { observe, probeFacts, type DefaultQdiscObserved } from "./probe";
import { defaultQdiscSchema, type DefaultQdiscDesired } from "./schema";

export const defaultQdiscSpec: ResourceSpec<DefaultQdiscDesired, DefaultQdiscObserved, DefaultQdiscTarget> = {
  kind: "DefaultQdisc",
  schema: defaultQdiscSchema,
  id: (d) => `default-qdisc/${d.fileName}`,
  facts: probeFacts,
  observe,
  want,
  restore,
  plan,
  drift,
};
