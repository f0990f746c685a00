import type * as pulumi from "@pulumi/pulumi";
import { type ConnectionArgs, HostResource } from "../core/resource";
import type { BfqSchedulerObserved } from "./probe";
import type { BfqSchedulerDesired } from "./schema";

export interface BfqSchedulerArgs {
  connection: ConnectionArgs;
  /** Select disks by kernel-name glob and/or properties; all given must hold. */
  match?: pulumi.Input<string>;
  rotational?: pulumi.Input<boolean>;
  singleQueue?: pulumi.Input<boolean>;
  removable?: pulumi.Input<boolean>;
  ruleFile?: pulumi.Input<string>;
}

/** The bfq I/O scheduler for matching block devices, at runtime and through a udev rule. */
export class BfqScheduler extends HostResource<BfqSchedulerDesired, BfqSchedulerObserved> {
  constructor(name: string, args: BfqSchedulerArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...desired } = args;
    super("BfqScheduler", name, connection, desired, opts);
  }
}
