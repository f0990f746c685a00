// Kind -> provider, loaded at run time by the serialized shim (core/shim.ts).
import { SpecProvider } from "./core/runner";
import type { AnySpec } from "./core/spec";
import { bfqSchedulerSpec } from "./bfqScheduler/spec";
import { defaultQdiscSpec } from "./defaultQdisc/spec";
import { managementVrfSpec } from "./managementVrf/spec";
import { nicCoalescingSpec } from "./nicCoalescing/spec";
import { udevRuleSpec } from "./udevRule/spec";
import { vrfBoundSystemdUnitSpec } from "./vrfBoundSystemdUnit/spec";

const specs: Record<string, AnySpec> = {
  BfqScheduler: bfqSchedulerSpec,
  DefaultQdisc: defaultQdiscSpec,
  ManagementVrf: managementVrfSpec,
  NicCoalescing: nicCoalescingSpec,
  UdevRule: udevRuleSpec,
  VrfBoundSystemdUnit: vrfBoundSystemdUnitSpec,
};

const providers = new Map<string, SpecProvider>();

export function spec(kind: string): AnySpec {
  const s = specs[kind];
  if (!s) throw new Error(`hosttune has no resource kind '${kind}' (state written by another hosttune version?)`);
  return s;
}

export function provider(kind: string): SpecProvider {
  let p = providers.get(kind);
  if (!p) providers.set(kind, (p = new SpecProvider(spec(kind))));
  return p;
}
