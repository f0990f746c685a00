import type { z } from "zod";
import { type HostArgs, hostResource } from "../core/resource";
import type { bfqSchedulerSchema } from "./schema";
import { bfqSchedulerSpec } from "./spec";

/** The bfq I/O scheduler for matching block devices, at runtime and through a udev rule. */
export const BfqScheduler = hostResource(bfqSchedulerSpec, {
  key: "bfqScheduler",
  many: true,
  name: (d) => `bfq-${d.ruleFile}`,
});
export type BfqScheduler = InstanceType<typeof BfqScheduler>;
export type BfqSchedulerArgs = HostArgs<z.input<typeof bfqSchedulerSchema>>;
