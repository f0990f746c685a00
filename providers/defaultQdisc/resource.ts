import type * as pulumi from "@pulumi/pulumi";
import { type ConnectionArgs, HostResource } from "../core/resource";
import type { DefaultQdiscObserved } from "./probe";
import type { DefaultQdiscDesired } from "./schema";

export interface DefaultQdiscArgs {
  connection: ConnectionArgs;
  /** net.core.default_qdisc: the root qdisc new devices get (e.g. noqueue, fq, fq_codel). */
  qdisc: pulumi.Input<DefaultQdiscDesired["qdisc"]>;
  /** File under /etc/sysctl.d that persists it (default 90-hosttune-default-qdisc.conf). */
  fileName?: pulumi.Input<string>;
  /** Give existing devices whose names match this glob the new default too. */
  reapplyTo?: pulumi.Input<string>;
}

/** net.core.default_qdisc at runtime and persisted in sysctl.d; delete restores what the host had. */
export class DefaultQdisc extends HostResource<DefaultQdiscDesired, DefaultQdiscObserved> {
  constructor(name: string, args: DefaultQdiscArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "DefaultQdisc",
      name,
      args.connection,
      { qdisc: args.qdisc, fileName: args.fileName, reapplyTo: args.reapplyTo },
      opts,
    );
  }
}
