// The resource classes: inputs are the connection and the desired state; outputs add what was
// observed on the host, what it had before create, the steps the last change ran, and the
// drift (asked vs got) the last read found. Each kind's class is made by `hostResource` from
// its spec, so its arguments are derived from the kind's zod schema and never written twice.
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { Connection } from "./connection";
import { CREDENTIAL_FIELDS, handOff } from "./credentials";
import { shim } from "./shim";
import type { ResourceSpec } from "./spec";

/**
 * @pulumi/command's `remote.Connection` (the same object a `remote.Command` takes), plus what
 * hosttune adds: a known_hosts file to verify the host key against, and a password for sudo.
 */
export type ConnectionArgs = command.types.input.remote.ConnectionArgs & {
  /** known_hosts file to verify the host key against when no hostKey is pinned. */
  knownHostsFile?: pulumi.Input<string>;
  /** Password for sudo when user is not root; without it sudo must not ask (NOPASSWD). */
  sudoPassword?: pulumi.Input<string>;
  /** A private key file on the machine running pulumi, read there: the key never enters Pulumi. */
  privateKeyPath?: pulumi.Input<string>;
  /** Environment variables of the process running pulumi that hold these secrets (read there). */
  passwordEnv?: pulumi.Input<string>;
  privateKeyPasswordEnv?: pulumi.Input<string>;
  sudoPasswordEnv?: pulumi.Input<string>;
  /** Seconds a change's commands may run on the host before they are killed and rolled back (300). */
  commandTimeout?: pulumi.Input<number>;
};

/** Each field of a schema's input type as a Pulumi input. */
export type InputsOf<I> = { [K in keyof I]: pulumi.Input<I[K]> };

/** A resource's arguments: the connection, and the desired state as the kind's schema takes it. */
export type HostArgs<I> = { connection: pulumi.Input<ConnectionArgs> } & InputsOf<I>;

/**
 * The connection as the engine sees it: every credential handed over to the provider outside
 * the engine (core/credentials.ts) and replaced by a reference, marked secret all the same.
 */
function handedOver(c: pulumi.Input<ConnectionArgs>): pulumi.Input<ConnectionArgs> {
  const swap = <T extends object>(v: T, ref: (x: pulumi.Input<string>) => unknown): T => {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    for (const k of CREDENTIAL_FIELDS) if (out[k] !== undefined) out[k] = ref(out[k] as pulumi.Input<string>);
    return out as T;
  };
  if (pulumi.Output.isInstance(c)) return pulumi.secret(c.apply((v) => swap(v, (x) => handOff(x as string))));
  return swap(c as ConnectionArgs, (x) => pulumi.secret(pulumi.output(x).apply(handOff)));
}

export abstract class HostResource<D, O> extends pulumi.dynamic.Resource {
  declare readonly connection: pulumi.Output<Connection>;
  declare readonly desired: pulumi.Output<D>;
  declare readonly observed: pulumi.Output<O>;
  declare readonly recorded: pulumi.Output<O>;
  declare readonly applied: pulumi.Output<string[]>;
  /** Where the host differs from what is asked, as of the last read ("field: asked X, got Y"). */
  declare readonly drift: pulumi.Output<string[]>;

  protected constructor(
    kind: string,
    name: string,
    connection: pulumi.Input<ConnectionArgs>,
    desired: pulumi.Inputs,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      shim(kind),
      name,
      {
        connection: handedOver(connection),
        desired,
        observed: undefined,
        recorded: undefined,
        applied: undefined,
        drift: undefined,
      },
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"] },
      "hosttune",
      kind,
    );
  }
}

/** How a kind appears in a tuning object (stack config and HostTuning). */
export interface TuningEntry<D, K extends string, M extends boolean> {
  /** Its key in the tuning object. */
  key: K;
  /** Whether the key holds a list of resources (else one). */
  many: M;
  /** Child resource name suffix, unique on a host (defaults of the schema applied). */
  name(d: D): string;
  /** Kinds whose resources on the same host must exist first. */
  after?: string[];
}

/** A kind's class: `new DefaultQdisc(name, args)`, carrying its spec and tuning entry. */
export interface HostResourceClass<D, O, I, K extends string, M extends boolean> {
  new (name: string, args: HostArgs<I>, opts?: pulumi.CustomResourceOptions): HostResource<D, O>;
  readonly spec: ResourceSpec<D, O, unknown, I>;
  readonly tuning: TuningEntry<D, K, M>;
}

/** The class of one kind, from its spec and how it appears in a tuning object. */
export function hostResource<D, O, I, K extends string, M extends boolean>(
  spec: ResourceSpec<D, O, unknown, I>,
  tuning: TuningEntry<D, K, M>,
): HostResourceClass<D, O, I, K, M> {
  return class extends HostResource<D, O> {
    static readonly spec = spec;
    static readonly tuning = tuning;
    constructor(name: string, args: HostArgs<I>, opts?: pulumi.CustomResourceOptions) {
      const { connection, ...desired } = args;
      super(spec.kind, name, connection, desired, opts);
    }
  };
}
