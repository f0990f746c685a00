// The base every hosttune resource class extends: inputs are the connection and the desired
// state; outputs add what was observed on the host, what it had before create, and the steps
// the last change ran.
import * as pulumi from "@pulumi/pulumi";
import type { Connection } from "./connection";
import { shim } from "./shim";

/** Connection inputs in @pulumi/command's `remote.Connection` shape (plus hostKey, sudoPassword). */
export type ConnectionArgs = { [K in keyof Connection]?: pulumi.Input<Connection[K]> } & { host: pulumi.Input<string> };

export abstract class HostResource<D, O> extends pulumi.dynamic.Resource {
  declare readonly connection: pulumi.Output<Connection>;
  declare readonly desired: pulumi.Output<D>;
  declare readonly observed: pulumi.Output<O>;
  declare readonly recorded: pulumi.Output<O>;
  declare readonly applied: pulumi.Output<string[]>;

  protected constructor(
    kind: string,
    name: string,
    connection: ConnectionArgs,
    desired: pulumi.Inputs,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      shim(kind),
      name,
      { connection, desired, observed: undefined, recorded: undefined, applied: undefined },
      opts,
      "hosttune",
      kind,
    );
  }
}
