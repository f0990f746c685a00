import type * as pulumi from "@pulumi/pulumi";
import { type ConnectionArgs, HostResource } from "../core/resource";
import type { ManagementVrfObserved } from "./probe";
import type { ManagementVrfDesired } from "./schema";

export interface ManagementVrfArgs {
  connection: ConnectionArgs;
  name?: pulumi.Input<string>;
  table?: pulumi.Input<number>;
  interfaces: pulumi.Input<pulumi.Input<string>[]>;
  reorderLocalRule?: pulumi.Input<boolean>;
  loopbackAddresses?: pulumi.Input<pulumi.Input<string>[]>;
  l3mdevAccept?: pulumi.Input<{ tcp?: boolean; udp?: boolean }>;
  confirmTimeout?: pulumi.Input<number>;
}

/** A management VRF through systemd-networkd, applied commit-confirmed so SSH is never lost. */
export class ManagementVrf extends HostResource<ManagementVrfDesired, ManagementVrfObserved> {
  constructor(name: string, args: ManagementVrfArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...desired } = args;
    super("ManagementVrf", name, connection, desired, opts);
  }
}
