// Tuning layers, like Ansible's group_vars and host_vars: a host's tuning is the stack's, then
// each of its groups' in the order it lists them, then its own, merged field by field. The
// kinds' fields are checked once merged, so a layer may give only the fields it changes.
import { z } from "zod";
import { catalog } from "../providers/catalog";
import { entryName, type Kind, type Tuning, tuningSchema } from "../providers/hostTuning";

type Path = (string | number)[];
type Value = Record<string, unknown>;

const isObject = (v: unknown): v is Value => typeof v === "object" && v !== null && !Array.isArray(v);

/** `over` on `base`: objects field by field, null removes a field, anything else replaces. */
function mergeValue(base: unknown, over: unknown): unknown {
  if (!isObject(over)) return over;
  const out: Value = isObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else if (v !== undefined) out[k] = mergeValue(out[k], v);
  }
  return out;
}

/** A list entry's identity: its resource's name on the host, from the catalog (nulls dropped first). */
const identity = (kind: Kind, item: unknown) => entryName(kind, mergeValue(undefined, item));

/**
 * One layer as written in the stack config: a section per kind (a list where the kind is
 * `many`), or null to remove what earlier layers gave. Within a list, an identity appears once.
 */
export const layerSchema = z
  .object(
    Object.fromEntries(
      catalog.map((c) => {
        const section = z.record(z.unknown());
        return [c.tuning.key, (c.tuning.many ? z.array(section) : section).nullable().optional()];
      }),
    ),
  )
  .strict()
  .superRefine((layer, ctx) => {
    for (const kind of catalog) {
      const list = layer[kind.tuning.key];
      if (!Array.isArray(list)) continue;
      const seen = new Map<string, number>();
      list.forEach((item, i) => {
        const id = identity(kind, item);
        if (id === undefined) return;
        const first = seen.get(id);
        if (first !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [kind.tuning.key, i],
            message: `same entry as ${kind.tuning.key}.${first} (${id}): give it once`,
          });
        else seen.set(id, i);
      });
    }
  });

export type Layer = z.output<typeof layerSchema>;
/** A layer and where it is in the stack config (for messages). */
export type Placed = { at: Path; layer: Layer };

/**
 * The layers merged in order: a later section merges over an earlier one field by field, a
 * list entry over the earlier entry with the same identity (else it is added), null removes.
 */
function mergeLayers(layers: Layer[]): Value {
  const out: Value = {};
  for (const layer of layers)
    for (const kind of catalog) {
      const key = kind.tuning.key;
      const over = layer[key];
      if (over === undefined) continue;
      if (over === null) delete out[key];
      else if (!Array.isArray(over)) out[key] = mergeValue(out[key], over);
      else {
        const list = [...((out[key] as unknown[] | undefined) ?? [])];
        for (const item of over) {
          const id = identity(kind, item);
          const i = id === undefined ? -1 : list.findIndex((e) => identity(kind, e) === id);
          if (i < 0) list.push(mergeValue(undefined, item));
          else list[i] = mergeValue(list[i], item);
        }
        out[key] = list;
      }
    }
  return out;
}

/**
 * Where to report a problem at `path` of a merged tuning: under the layer (`at`: its config
 * path) that gave the deepest part of that path, or removed it with null, the later one when
 * two give as much.
 */
function sourceOf(layers: Placed[], merged: Value, path: Path): Path {
  const [key, ...rest] = path;
  const kind = catalog.find((k) => k.tuning.key === key);
  let best = { depth: -1, path: [...layers[layers.length - 1].at, ...path] };
  for (const { at, layer } of layers) {
    let v: unknown = layer[key as string];
    if (v === undefined || v === null) continue;
    const prefix: Path = [...at, key];
    let tail = rest;
    if (kind?.tuning.many && typeof rest[0] === "number") {
      // The merged list's index is not the layer's: find the entry by identity.
      const id = identity(kind, (merged[key as string] as unknown[])[rest[0]]);
      const j = (v as unknown[]).findIndex((e) => id !== undefined && identity(kind, e) === id);
      if (j < 0) continue;
      v = (v as unknown[])[j];
      prefix.push(j);
      tail = rest.slice(1);
    }
    let depth = 0;
    for (const p of tail) {
      v = isObject(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[p] : undefined;
      if (v === undefined) break;
      if (v === null) {
        depth = tail.length;
        break;
      }
      depth++;
    }
    if (depth >= best.depth) best = { depth, path: [...prefix, ...tail] };
  }
  return best.path;
}

/** A host's tuning from its layers in merge order, checked: the tuning, or each problem where it was written. */
export function resolveTuning(layers: Placed[]): { tuning?: Tuning; problems: { path: Path; message: string }[] } {
  const merged = mergeLayers(layers.map((l) => l.layer));
  const r = tuningSchema.safeParse(merged);
  if (r.success) return { tuning: r.data, problems: [] };
  return { problems: r.error.issues.map((i) => ({ path: sourceOf(layers, merged, i.path), message: i.message })) };
}
