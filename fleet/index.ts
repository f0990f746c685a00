// The stack's description of the fleet and its tuning (stack config, zod-validated): hosts,
// credentials, and the tuning every host gets, with per-host overrides.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { type Tuning, tuningSchema } from "../providers/hostTuning";

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
    /** A file holding the SSH private key (the lab's), read by the provider where pulumi runs. */
    privateKeyPath: z.string().optional(),
    /** Environment variables holding the SSH password and the sudo password, read where pulumi runs. */
    passwordEnv: z.string().optional(),
    sudoPasswordEnv: z.string().optional(),
    /** Seconds a change's commands may run on a host before they are killed and rolled back (300). */
    commandTimeout: z.number().int().min(1).max(86_400).optional(),
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

export function parseFleet(raw: unknown): Fleet {
  const r = fleetSchema.safeParse(raw);
  // A RunError is reported once, without a stack trace: the list is the whole message.
  if (!r.success)
    throw new pulumi.RunError(
      `invalid hosttune stack config:\n${r.error.issues.map((i) => `  hosttune:${i.path.join(".")}: ${i.message}`).join("\n")}`,
    );
  return r.data;
}

export function tuningFor(fleet: Fleet, host: FleetHost): Tuning {
  return { ...fleet.tuning, ...host.tuning };
}
