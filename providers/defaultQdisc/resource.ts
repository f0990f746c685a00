import type { z } from "zod";
import { type HostArgs, hostResource } from "../core/resource";
import type { defaultQdiscSchema } from "./schema";
import { defaultQdiscSpec } from "./spec";

/** net.core.default_qdisc at runtime and persisted in sysctl.d; delete restores what the host had. */
export const DefaultQdisc = hostResource(defaultQdiscSpec, {
  key: "defaultQdisc",
  many: false,
  name: () => "default-qdisc",
});
export type DefaultQdisc = InstanceType<typeof DefaultQdisc>;
export type DefaultQdiscArgs = HostArgs<z.input<typeof defaultQdiscSchema>>;
