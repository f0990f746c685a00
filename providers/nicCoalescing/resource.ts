import type { z } from "zod";
import { type HostArgs, hostResource } from "../core/resource";
import type { nicCoalescingSchema } from "./schema";
import { nicCoalescingSpec } from "./spec";

/** IRQ coalescing per NIC, read back after every change and re-applied by udev when the NIC appears. */
export const NicCoalescing = hostResource(nicCoalescingSpec, {
  key: "nicCoalescing",
  many: true,
  name: (d) => `coalesce-${[d.interface ?? d.match, d.driver].filter(Boolean).join("@")}`,
});
export type NicCoalescing = InstanceType<typeof NicCoalescing>;
export type NicCoalescingArgs = HostArgs<z.input<typeof nicCoalescingSchema>>;
