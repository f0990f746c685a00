import { defineSpec } from "../core/spec";
import * as planner from "./plan";
import * as probe from "./probe";
import { vrfBoundSystemdUnitSchema, type VrfBoundSystemdUnitDesired } from "./schema";

export const vrfBoundSystemdUnitSpec = defineSpec(
  "VrfBoundSystemdUnit",
  vrfBoundSystemdUnitSchema,
  (d: VrfBoundSystemdUnitDesired) => `vrf-unit/${d.unit}`,
  probe,
  planner,
);
