// The provider object Pulumi serializes into every resource's state (`__provider`). It is
// kept tiny and free of captured state on purpose: it loads the compiled implementation at
// run time, so code changes neither churn `__provider` nor leave read/delete running stale
// code from state, and the SSH pool lives in one module instance per deployment.
import type * as dynamic from "@pulumi/pulumi/dynamic";

export function shim(kind: string): dynamic.ResourceProvider {
  const impl = () =>
    require(
      require("path").join(process.env.HOSTTUNE_ROOT || process.cwd(), "dist", "providers", "registry.js"),
    ).provider(kind);
  return {
    check: (olds, news) => impl().check(olds, news),
    diff: (id, olds, news) => impl().diff(id, olds, news),
    create: (inputs) => impl().create(inputs),
    read: (id, props) => impl().read(id, props),
    update: (id, olds, news) => impl().update(id, olds, news),
    delete: (id, props) => impl().delete(id, props),
  };
}
