// hosttune as a library: the resource kinds, HostTuning, and their typed arguments.
export * from "./providers/catalog";
export { HostTuning, type HostTuningArgs, type Tuning, type TuningArgs } from "./providers/hostTuning";
export type { ConnectionArgs, HostArgs, ProxyArgs } from "./providers/core/resource";
