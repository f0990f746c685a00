// The resource classes: inputs are the connection and the desired state; outputs add what was
// observed on the host, what it had before create, the steps the last change ran, and the
// drift (asked vs got) the last read found. Each kind's class is made by `hostResource` from
// its spec, so its arguments are derived from the kind's zod schema and never written twice.
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { z } from "zod";
import type { Connection, connectionSchema, proxySchema } from "./connection";
import { CREDENTIAL_FIELDS, handOff } from "./credentials";
import { providerSource } from "./shim";
import type { ResourceSpec } from "./spec";

/** Each field of a schema's input type as a Pulumi input. */
export type InputsOf<I> = { [K in keyof I]: pulumi.Input<I[K]> };

type CommandConnection = command.types.input.remote.ConnectionArgs;
type CommandProxy = command.types.input.remote.ProxyConnectionArgs;
/** What hosttune adds to one of @pulumi/command's connection types: the schema's other fields. */
type Additions<Ours, Theirs> = InputsOf<Omit<Ours, keyof Theirs>>;

/**
 * @pulumi/command's `remote.ProxyConnection` (a bastion), plus hosttune's additions from the
 * schema: its host key checked like the target's (knownHostsFile), privateKeyPath and the *Env
 * indirections.
 */
export type ProxyArgs = CommandProxy & Additions<z.input<typeof proxySchema>, CommandProxy>;

/**
 * @pulumi/command's `remote.Connection` (the same object a `remote.Command` takes), plus what
 * hosttune's schema adds: a known_hosts file, a password for sudo, credentials by reference,
 * the command timeout, `sshConfig`, and a `proxy` with hosttune's additions too.
 */
export type ConnectionArgs = Omit<CommandConnection, "proxy"> &
  Additions<z.input<typeof connectionSchema>, CommandConnection> & { proxy?: pulumi.Input<ProxyArgs> };

/** A resource's arguments: the connection, and the desired state as the kind's schema takes it. */
export type HostArgs<I> = { connection: pulumi.Input<ConnectionArgs> } & InputsOf<I>;

/**
 * The connection as the engine sees it: every credential handed over to the provider outside
 * the engine (core/credentials.ts) and replaced by a reference, marked secret all the same.
 */
function handedOver<C extends ConnectionArgs | ProxyArgs>(c: pulumi.Input<C>): pulumi.Input<C> {
  const swap = (v: C, ref: (x: pulumi.Input<string>) => unknown): C => {
    const out: Record<string, unknown> = { ...v };
    for (const k of CREDENTIAL_FIELDS) if (out[k] !== undefined) out[k] = ref(out[k] as pulumi.Input<string>);
    // The bastion's credentials are handed over (and secret) like the target's.
    if (out.proxy !== undefined) out.proxy = handedOver(out.proxy as pulumi.Input<ProxyArgs>);
    return out as C;
  };
  if (pulumi.Output.isInstance(c))
    return pulumi.secret(
      c.apply((v) => pulumi.output(swap(v as C, (x) => handOff(x as string))) as pulumi.Output<C>),
    ) as pulumi.Output<C>;
  return swap(c as C, (x) => pulumi.secret(pulumi.output(x).apply(handOff)));
}

/** An explicit dynamic-provider resource with no config. */
class DynamicProvider extends pulumi.ProviderResource {
  constructor(name: string) {
    super("pulumi-nodejs", name, {});
  }
}
const PROVIDERS = Symbol.for("hosttune.providers");

/**
 * The provider of hosttune's resources unless the program names one: explicit, so its config is
 * its own (none). The engine gives the default dynamic provider the whole stack config, so a
 * changed tuning value made a new provider: every resource's state written again, one checkpoint
 * each, and the refresh and the changes served by two provider processes (two connections per host).
 */
function sharedProvider(): pulumi.ProviderResource {
  // One per deployment: a program (or a test's mocked one) may run more than once in a process.
  const key = `${pulumi.getProject()}/${pulumi.getStack()}`;
  const g = globalThis as unknown as Record<symbol, Map<string, pulumi.ProviderResource> | undefined>;
  const made = (g[PROVIDERS] ??= new Map());
  let p = made.get(key);
  if (!p) made.set(key, (p = new DynamicProvider("hosttune")));
  return p;
}

/**
 * A dynamic resource, as `pulumi.dynamic.Resource` makes one (the same type token, and its
 * provider module in `__provider`), with that module written by hosttune (core/shim.ts).
 */
export abstract class HostResource<D, O> extends pulumi.CustomResource {
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
      `pulumi-nodejs:dynamic/hosttune:${kind}`,
      name,
      {
        __provider: providerSource(kind),
        connection: handedOver(connection),
        desired,
        observed: undefined,
        recorded: undefined,
        applied: undefined,
        drift: undefined,
      },
      {
        ...opts,
        provider: opts?.provider ?? sharedProvider(),
        additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"],
      },
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
