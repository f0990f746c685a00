// The provider object Pulumi serializes into every resource's state (`__provider`). It is
// kept tiny and free of captured state on purpose: it loads the compiled implementation at
// run time, so code changes neither churn `__provider` nor leave read/delete running stale
// code from state, and the SSH pool lives in one module instance per deployment.
import type * as dynamic from "@pulumi/pulumi/dynamic";

// One object per kind: the SDK caches a provider's serialization by object identity, so a
// fleet serializes each kind once instead of once per resource.
const shims = new Map<string, dynamic.ResourceProvider>();

export function shim(kind: string): dynamic.ResourceProvider {
  let s = shims.get(kind);
  if (s) return s;
  // Runs in the dynamic-provider process, whose cwd is the program's folder: hosttune is found
  // from the program's own dependencies (or as itself, through package.json "exports").
  const impl = () => {
    const from = require("module").createRequire(require("path").join(process.cwd(), "__hosttune__.js"));
    let registry;
    try {
      registry = from("hosttune/provider");
    } catch (e) {
      throw new Error(`cannot load hosttune's provider from ${process.cwd()}: ${(e as Error).message}`);
    }
    return registry.provider(kind);
  };
  s = {
    check: (olds, news) => impl().check(olds, news),
    diff: (id, olds, news) => impl().diff(id, olds, news),
    create: (inputs) => impl().create(inputs),
    read: (id, props) => impl().read(id, props),
    update: (id, olds, news) => impl().update(id, olds, news),
    delete: (id, props) => impl().delete(id, props),
  };
  shims.set(kind, s);
  return s;
}
