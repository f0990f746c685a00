import type * as pulumi from "@pulumi/pulumi";
import { type ConnectionArgs, HostResource } from "../core/resource";
import type { UdevRuleObserved } from "./probe";
import type { Clause, UdevRuleDesired } from "./schema";

export interface UdevRuleArgs {
  connection: ConnectionArgs;
  /** NN-name.rules under /etc/udev/rules.d. */
  fileName: pulumi.Input<string>;
  /** The rules as text, or `rules` as structured clauses (one of the two). */
  content?: pulumi.Input<string>;
  rules?: pulumi.Input<Clause[][]>;
  /** Trigger after writing, scoped (subsystem, sysname glob, properties); reload always happens. */
  trigger?: pulumi.Input<{
    action?: "add" | "change";
    subsystem?: string;
    sysname?: string;
    properties?: Record<string, string>;
  }>;
}

/** A udev rule file, checked by udev before it goes live, reloaded and optionally triggered. */
export class UdevRule extends HostResource<UdevRuleDesired, UdevRuleObserved> {
  constructor(name: string, args: UdevRuleArgs, opts?: pulumi.CustomResourceOptions) {
    const { connection, ...desired } = args;
    super("UdevRule", name, connection, desired, opts);
  }
}
