// The stack's description of the fleet and its tuning (stack config, zod-validated): hosts,
// credentials, and the tuning every host gets, with per-host overrides.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { bfqSchedulerSchema } from "./providers/bfqScheduler/schema";
import { defaultQdiscSchema } from "./providers/defaultQdisc/schema";
import { managementVrfSchema } from "./providers/managementVrf/schema";
import { nicCoalescingSchema } from "./providers/nicCoalescing/schema";
import { udevRuleSchema } from "./providers/udevRule/schema";
import { vrfBoundSystemdUnitSchema } from "./providers/vrfBoundSystemdUnit/schema";

const tuningSchema = z
  .object({
    defaultQdisc: defaultQdiscSchema.optional(),
    managementVrf: managementVrfSchema.optional(),
    /** One entry per NIC selector (interface, or match glob and/or driver). */
    nicCoalescing: z.array(nicCoalescingSchema).optional(),
    udevRules: z.array(udevRuleSchema).optional(),
    bfqScheduler: z.array(bfqSchedulerSchema).optional(),
    /** Services to run inside a VRF (ip vrf exec through a drop-in). */
    vrfBoundUnits: z.array(vrfBoundSystemdUnitSchema).optional(),
  })
  .strict();

const hostSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be a short lowercase name (used in resource names)"),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().default("root"),
    hostKey: z.string().optional(),
    knownHostsFile: z.string().optional(),
    /** Per-host tuning, merged over the stack's tuning (a key given here replaces the stack's). */
    tuning: tuningSchema.optional(),
  })
  .strict();

export const fleetSchema = z
  .object({
    hosts: z.array(hostSchema).min(1, "needs at least one host"),
    tuning: tuningSchema.default({}),
    /** A file holding the SSH private key (the lab's), read at deploy time and kept secret. */
    privateKeyPath: z.string().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.hosts.forEach((h, i) => {
      if (seen.has(h.name))
        ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host name ${h.name}` });
      seen.add(h.name);
    });
  });

export type Fleet = z.infer<typeof fleetSchema>;
export type FleetHost = Fleet["hosts"][number];
export type Tuning = z.infer<typeof tuningSchema>;

export function parseFleet(raw: unknown): Fleet {
  const r = fleetSchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `invalid hosttune stack config:\n${r.error.issues.map((i) => `  hosttune:${i.path.join(".")}: ${i.message}`).join("\n")}`,
    );
  return r.data;
}

export function tuningFor(fleet: Fleet, host: FleetHost): Tuning {
  return { ...fleet.tuning, ...host.tuning };
}

export function readPrivateKey(fleet: Fleet): string | undefined {
  return fleet.privateKeyPath
    ? readFileSync(fleet.privateKeyPath.replace(/^~(?=\/)/, process.env.HOME ?? "~"), "utf8")
    : undefined;
}
