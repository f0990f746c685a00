import type { ResourceSpec } from "../core/spec";
import { drift, plan, restore, want, type VrfBoundSystemdUnitTarget } from "./plan";
import { observe, probeFacts, type VrfBoundSystemdUnitObserved } from "./probe";
import { vrfBoundSystemdUnitSchema, type VrfBoundSystemdUnitDesired } from "./schema";

export const vrfBoundSystemdUnitSpec: ResourceSpec<VrfBoundSystemdUnitDesired, VrfBoundSystemdUnitObserved, VrfBoundSystemdUnitTarget> = {
  kind: "VrfBoundSystemdUnit",
  schema: vrfBoundSystemdUnitSchema,
  id: (d) => `vrf-unit/${d.unit}`,
  facts: probeFacts,
  observe,
  want,
  restore,
  plan,
  drift,
};
