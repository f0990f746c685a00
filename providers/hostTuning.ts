// HostTuning: one host's tuning as a component, in the same shape as the stack config's
// `tuning`, so `pulumi stack` and the engine's output show a tree per host. Which keys exist,
// what they hold and in which order their resources are made all come from the catalog.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { catalog } from "./catalog";
import type { ConnectionArgs, HostResource, InputsOf, TuningEntry } from "./core/resource";
import type { ResourceSpec } from "./core/spec";

export type Kind = (typeof catalog)[number];
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
/* eslint-disable @typescript-eslint/no-explicit-any */
type EntryOf<C, Item> = C extends {
  tuning: TuningEntry<any, infer K, infer M>;
  spec: ResourceSpec<infer D, any, any, infer I>;
}
  ? {
      [P in K]?: M extends true ? (Item extends "input" ? InputsOf<I>[] : D[]) : Item extends "input" ? InputsOf<I> : D;
    }
  : never;

/** A tuning object as a program gives it: each kind's fields may be Pulumi inputs. */
export type TuningArgs = UnionToIntersection<EntryOf<Kind, "input">>;
/** A tuning object after validation (schema defaults applied). */
export type Tuning = UnionToIntersection<EntryOf<Kind, "output">>;

/** The stack config's `tuning` schema: one key per kind, a list where the kind is `many`. */
export const tuningSchema = z
  .object(
    Object.fromEntries(
      catalog.map((c) => [
        c.tuning.key,
        (c.tuning.many ? z.array(c.spec.schema as z.ZodTypeAny) : (c.spec.schema as z.ZodTypeAny)).optional(),
      ]),
    ),
  )
  .strict() as unknown as z.ZodType<Tuning, z.ZodTypeDef, unknown>;

export interface HostTuningArgs {
  connection: pulumi.Input<ConnectionArgs>;
  tuning: TuningArgs;
}

/**
 * An item's identity on its host, the name suffix of its resource: with the schema's defaults
 * when the item is plain and valid, else as given; undefined when it has none.
 */
export function entryName(kind: Kind, item: unknown): string | undefined {
  const parsed = kind.spec.schema.safeParse(item);
  try {
    return (kind.tuning as TuningEntry<unknown, string, boolean>).name(parsed.success ? parsed.data : item);
  } catch {
    return undefined;
  }
}

export class HostTuning extends pulumi.ComponentResource {
  /** The child resources, by name suffix ("default-qdisc", "udev-90-tap.rules", ...). */
  readonly resources: Record<string, HostResource<unknown, unknown>> = {};
  /** Drift per child as of the last read: empty lists when the host is as asked. */
  readonly drift: pulumi.Output<Record<string, string[]>>;

  constructor(name: string, args: HostTuningArgs, opts?: pulumi.ComponentResourceOptions) {
    super("hosttune:index:HostTuning", name, {}, opts);
    const tuning = args.tuning as Record<string, unknown>;
    const known = new Set<string>(catalog.map((c) => c.tuning.key));
    const unknown = Object.keys(tuning).filter((k) => !known.has(k));
    if (unknown.length)
      throw new Error(`HostTuning ${name}: unknown tuning key ${unknown.join(", ")} (known: ${[...known].join(", ")})`);
    const byKind = new Map<string, pulumi.Resource[]>();
    for (const C of catalog) {
      const value = tuning[C.tuning.key];
      if (value === undefined) continue;
      const entry = C.tuning as TuningEntry<unknown, string, boolean>;
      const items = entry.many ? (value as unknown[]) : [value];
      items.forEach((item, i) => {
        const suffix = entryName(C, item) ?? String(i);
        const Ctor = C as unknown as new (
          n: string,
          a: object,
          o: pulumi.CustomResourceOptions,
        ) => HostResource<unknown, unknown>;
        const r = new Ctor(
          `${name}-${suffix}`,
          { connection: args.connection, ...(item as object) },
          {
            parent: this,
            dependsOn: (entry.after ?? []).flatMap((k) => byKind.get(k) ?? []),
            // Stacks made before HostTuning had these resources at the top level.
            aliases: [{ parent: pulumi.rootStackResource }],
          },
        );
        this.resources[suffix] = r;
        byKind.set(C.spec.kind, [...(byKind.get(C.spec.kind) ?? []), r]);
      });
    }
    this.drift = pulumi.all(Object.fromEntries(Object.entries(this.resources).map(([k, r]) => [k, r.drift])));
    this.registerOutputs({ drift: this.drift });
  }
}
