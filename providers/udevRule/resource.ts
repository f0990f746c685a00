import type { z } from "zod";
import { type HostArgs, hostResource } from "../core/resource";
import type { udevRuleSchema } from "./schema";
import { udevRuleSpec } from "./spec";

/** A udev rule file, checked by udev before it goes live, reloaded and optionally triggered. */
export const UdevRule = hostResource(udevRuleSpec, { key: "udevRules", many: true, name: (d) => `udev-${d.fileName}` });
export type UdevRule = InstanceType<typeof UdevRule>;
export type UdevRuleArgs = HostArgs<z.input<typeof udevRuleSchema>>;
