import { z } from "zod";
import { fileName, interfaceName, nameGlob, notOption } from "../core/names";

/** Numeric coalescing parameters, by their `ethtool -C` names. */
export const NUMERIC_PARAMS = [
  "rx-usecs",
  "rx-frames",
  "rx-usecs-irq",
  "rx-frames-irq",
  "tx-usecs",
  "tx-frames",
  "tx-usecs-irq",
  "tx-frames-irq",
  "stats-block-usecs",
  "sample-interval",
  "pkt-rate-low",
  "pkt-rate-high",
  "rx-usecs-low",
  "rx-frames-low",
  "tx-usecs-low",
  "tx-frames-low",
  "rx-usecs-high",
  "rx-frames-high",
  "tx-usecs-high",
  "tx-frames-high",
  "tx-aggr-max-bytes",
  "tx-aggr-max-frames",
  "tx-aggr-time-usecs",
] as const;
/** On/off parameters. */
export const BOOLEAN_PARAMS = ["adaptive-rx", "adaptive-tx", "cqe-mode-rx", "cqe-mode-tx"] as const;

export type NumericParam = (typeof NUMERIC_PARAMS)[number];
export type BooleanParam = (typeof BOOLEAN_PARAMS)[number];
export type Param = NumericParam | BooleanParam;
export const ALL_PARAMS: readonly Param[] = [...BOOLEAN_PARAMS, ...NUMERIC_PARAMS];

const u32 = z.number().int("must be an integer").min(0, "must be >= 0").max(4294967295, "must fit in 32 bits");

export const settingsSchema = z
  .object({
    ...(Object.fromEntries(NUMERIC_PARAMS.map((p) => [p, u32.optional()])) as Record<
      NumericParam,
      z.ZodOptional<typeof u32>
    >),
    ...(Object.fromEntries(
      BOOLEAN_PARAMS.map((p) => [p, z.boolean({ invalid_type_error: "must be true or false" }).optional()]),
    ) as Record<BooleanParam, z.ZodOptional<z.ZodBoolean>>),
  })
  .strict()
  .refine((s) => Object.values(s).some((v) => v !== undefined), "must set at least one coalescing parameter");

export type Settings = z.infer<typeof settingsSchema>;

/** A driver name as the kernel reports it (ethtool -i, /sys/class/net/X/device/driver). */
const driverName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be a kernel driver name")
  .refine(...notOption);

export const nicCoalescingSchema = z
  .object({
    /** One interface by exact name... */
    interface: interfaceName.optional(),
    /** ...or every interface whose name matches this glob... */
    match: nameGlob.optional(),
    /** ...and/or whose driver is this one. */
    driver: driverName.optional(),
    settings: settingsSchema,
    /** udev rule under /etc/udev/rules.d that re-applies the settings when the NIC appears. */
    ruleFile: fileName(".rules").optional(),
    /**
     * Measure napi_poll on the selected NICs for this many seconds before a change and after it
     * (kept in the outputs as `effect`); off when absent.
     */
    measure: z
      .object({ windowSeconds: z.number().int().min(1).max(600).default(10) })
      .strict()
      .optional(),
  })
  .strict()
  .refine((d) => d.interface || d.match || d.driver, {
    message: "needs interface, match or driver",
    path: ["interface"],
  })
  .refine((d) => !(d.interface && d.match), { message: "give either interface or match, not both", path: ["match"] })
  .transform((d) => ({ ...d, ruleFile: d.ruleFile ?? defaultRuleFile(d) }));

export type NicCoalescingDesired = z.infer<typeof nicCoalescingSchema>;

/**
 * 85-hosttune-coalesce-<selector>.rules. It must sort after 80-net-setup-link.rules: only
 * there does udev's $name hold the interface's final (renamed) name.
 */
export function defaultRuleFile(d: { interface?: string; match?: string; driver?: string }): string {
  const parts = [d.interface ?? d.match, d.driver].filter(Boolean).join("-");
  return `85-hosttune-coalesce-${parts.replace(/[^A-Za-z0-9_.-]/g, "_")}.rules`;
}

export const RULES_DIR = "/etc/udev/rules.d";
