export { DefaultQdisc, type DefaultQdiscArgs } from "./defaultQdisc/resource";
export type { ConnectionArgs } from "./core/resource";
export { NicCoalescing, type NicCoalescingArgs } from "./nicCoalescing/resource";
export { UdevRule, type UdevRuleArgs } from "./udevRule/resource";
export { BfqScheduler, type BfqSchedulerArgs } from "./bfqScheduler/resource";
export { VrfBoundSystemdUnit, type VrfBoundSystemdUnitArgs } from "./vrfBoundSystemdUnit/resource";
export { ManagementVrf, type ManagementVrfArgs } from "./managementVrf/resource";
