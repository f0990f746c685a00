import type * as pulumi from "@pulumi/pulumi";
import { type ConnectionArgs, HostResource } from "../core/resource";
import type { NicCoalescingObserved } from "./probe";
import type { NicCoalescingDesired, Settings } from "./schema";

export interface NicCoalescingArgs {
  connection: ConnectionArgs;
  /** One interface by name; or select by `match` (name glob) and/or `driver`. */
  interface?: pulumi.Input<string>;
  match?: pulumi.Input<string>;
  driver?: pulumi.Input<string>;
  /** `ethtool -C` parameters by their ethtool names; only those given are managed. */
  settings: pulumi.Input<Settings>;
  /** The udev rule file that re-applies them (default 85-hosttune-coalesce-<selector>.rules). */
  ruleFile?: pulumi.Input<string>;
}

/** IRQ coalescing per NIC, read back after every change and re-applied by udev when the NIC appears. */
export class NicCoalescing extends HostResource<NicCoalescingDesired, NicCoalescingObserved> {
  constructor(name: string, args: NicCoalescingArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...desired } = args;
    super("NicCoalescing", name, connection, desired, opts);
  }
}
