import type * as pulumi from "@pulumi/pulumi";
import { type ConnectionArgs, HostResource } from "../core/resource";
import type { VrfBoundSystemdUnitObserved } from "./probe";
import type { VrfBoundSystemdUnitDesired } from "./schema";

export interface VrfBoundSystemdUnitArgs {
  connection: ConnectionArgs;
  unit: pulumi.Input<string>;
  /** Pass a ManagementVrf's name output so Pulumi creates the VRF first. */
  vrf: pulumi.Input<string>;
  restart?: pulumi.Input<"now" | "onNextStart" | "never">;
  dropInName?: pulumi.Input<string>;
}

/** A systemd service run under `ip vrf exec` through a drop-in (the vendor unit is never edited). */
export class VrfBoundSystemdUnit extends HostResource<VrfBoundSystemdUnitDesired, VrfBoundSystemdUnitObserved> {
  constructor(name: string, args: VrfBoundSystemdUnitArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...desired } = args;
    super("VrfBoundSystemdUnit", name, connection, desired, opts);
  }
}
