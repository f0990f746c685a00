import { z } from "zod";
import { fileName, nameGlob } from "../core/names";

export const RULES_DIR = "/etc/udev/rules.d";

export const bfqSchedulerSchema = z
  .object({
    /** Block devices whose kernel name matches this glob (sd*, vd?, mmcblk*). */
    match: nameGlob.optional(),
    /** Only rotational (true) or only non-rotational (false) devices. */
    rotational: z.boolean().optional(),
    /** Only devices with a single hardware queue (true), or with several (false). */
    singleQueue: z.boolean().optional(),
    /** Only removable (true) or only fixed (false) devices. */
    removable: z.boolean().optional(),
    /** The udev rule that selects bfq when a matching disk appears. */
    ruleFile: fileName(".rules").optional(),
  })
  .strict()
  .refine(
    (d) =>
      d.match !== undefined || d.rotational !== undefined || d.singleQueue !== undefined || d.removable !== undefined,
    {
      message: "needs at least one of match, rotational, singleQueue, removable",
      path: ["match"],
    },
  )
  .transform((d) => ({
    ...d,
    ruleFile: d.ruleFile ?? `60-hosttune-bfq${d.match ? "-" + d.match.replace(/[^A-Za-z0-9_.-]/g, "_") : ""}.rules`,
  }));

export type BfqSchedulerDesired = z.infer<typeof bfqSchedulerSchema>;
