// Rollout in waves: the canary hosts first, then the others in batches, in host order. Each
// wave's HostTunings depend on every HostTuning of the wave before, so the engine starts a wave
// only when the one before has succeeded, and skips it (and every later one) when it has not.
import { z } from "zod";

export const rolloutSchema = z
  .object({
    /** Hosts (by name) that form wave 0 on their own. */
    canary: z.array(z.string()).default([]),
    /** The other hosts, in waves of this many; all in one wave when absent. */
    batchSize: z.number().int().min(1).optional(),
  })
  .strict();

export type Rollout = z.output<typeof rolloutSchema>;

/** The hosts in waves, in the order they roll out; empty waves are left out. */
export function waves<H extends { name: string }>(hosts: H[], rollout: Rollout | undefined): H[][] {
  const canary = new Set(rollout?.canary);
  const rest = hosts.filter((h) => !canary.has(h.name));
  const size = rollout?.batchSize ?? (rest.length || 1);
  const out = [hosts.filter((h) => canary.has(h.name))];
  for (let i = 0; i < rest.length; i += size) out.push(rest.slice(i, i + size));
  return out.filter((w) => w.length > 0);
}
