// Kind -> provider, loaded at run time by the provider module in state (core/shim.ts) as "hosttune/provider".
import { SpecProvider } from "./core/runner";
import type { AnySpec } from "./core/spec";
import { catalog } from "./catalog";

const specs = new Map<string, AnySpec>(catalog.map((c) => [c.spec.kind, c.spec]));
const providers = new Map<string, SpecProvider>();

export function spec(kind: string): AnySpec {
  const s = specs.get(kind);
  if (!s) throw new Error(`hosttune has no resource kind '${kind}' (state written by another hosttune version?)`);
  return s;
}

export function provider(kind: string): SpecProvider {
  let p = providers.get(kind);
  if (!p) providers.set(kind, (p = new SpecProvider(spec(kind))));
  return p;
}
