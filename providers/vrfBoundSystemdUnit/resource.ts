import type { z } from "zod";
import { type HostArgs, hostResource } from "../core/resource";
import type { vrfBoundSystemdUnitSchema } from "./schema";
import { vrfBoundSystemdUnitSpec } from "./spec";

/** A systemd service run under `ip vrf exec` through a drop-in (the vendor unit is never edited). */
export const VrfBoundSystemdUnit = hostResource(vrfBoundSystemdUnitSpec, {
  key: "vrfBoundUnits",
  many: true,
  name: (d) => `vrf-unit-${d.unit}`,
  // The VRF a unit is bound to is made on the same host first.
  after: ["ManagementVrf"],
});
export type VrfBoundSystemdUnit = InstanceType<typeof VrfBoundSystemdUnit>;
export type VrfBoundSystemdUnitArgs = HostArgs<z.input<typeof vrfBoundSystemdUnitSchema>>;
