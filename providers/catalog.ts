// Every resource kind, in the order HostTuning creates them on a host. The provider registry,
// the stack config's tuning schema, HostTuning and the library's exports derive from this
// list: adding a kind is its folder plus one entry here.
import { BfqScheduler } from "./bfqScheduler/resource";
import { DefaultQdisc } from "./defaultQdisc/resource";
import { ManagementVrf } from "./managementVrf/resource";
import { NicCoalescing } from "./nicCoalescing/resource";
import { UdevRule } from "./udevRule/resource";
import { VrfBoundSystemdUnit } from "./vrfBoundSystemdUnit/resource";

export const catalog = [
  DefaultQdisc,
  UdevRule,
  NicCoalescing,
  BfqScheduler,
  ManagementVrf,
  VrfBoundSystemdUnit,
] as const;

export * from "./bfqScheduler/resource";
export * from "./defaultQdisc/resource";
export * from "./managementVrf/resource";
export * from "./nicCoalescing/resource";
export * from "./udevRule/resource";
export * from "./vrfBoundSystemdUnit/resource";
