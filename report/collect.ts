// What `hosttune report` shows, gathered: each resource's state from a plain `pulumi preview`
// (the engine's own refresh and diff: in sync, drifted and why), and from each host over one
// connection, its facts and the napi_poll window of every NIC a NicCoalescing selects (and, if
// asked, stolen CPU). Hosts are read side by side; one that cannot be reached is reported.
import { connectionSchema, type Connection, target } from "../providers/core/connection";
import { withCredentials } from "../providers/core/credentials";
import { fact, factScript, parseFacts, readFacts } from "../providers/core/facts";
import { sh } from "../providers/core/quote";
import { closeAll, run } from "../providers/core/transport";
import { napiResult, napiScript } from "../providers/effect/napi";
import { stolenFacts, stolenResult } from "../providers/effect/stolen";
import { nicsFact, parseNics, selects, supported } from "../providers/nicCoalescing/probe";
import type { NicCoalescingDesired } from "../providers/nicCoalescing/schema";
import { unitVrfFact } from "../providers/vrfBoundSystemdUnit/probe";
import { type Fleet, type FleetSecrets, hostConnection } from "../fleet/index";
import type { FleetReport, HostFacts, HostReport, NapiEffect, ResourceState } from "./model";
import type { Progress } from "./progress";

export interface ReportOptions {
  /** napi_poll window per host, seconds. */
  window: number;
  /** A CPU to measure stolen time on (off unless given), and for how long. */
  stolenCpu?: number;
  stolenSeconds: number;
  progress: Pick<Progress, "line" | "working" | "finished">;
}

/** One step of `pulumi preview --json`, as far as the report reads it. */
export interface PreviewStep {
  op: string;
  urn: string;
  oldState?: { outputs?: { drift?: string[]; effect?: { before: unknown; after: unknown } } };
}

/** The host a resource of the stack belongs to (its name starts with its host's), and its kind. */
function placed(hosts: string[], urn: string): { host: string; name: string; kind: string } | undefined {
  const kind = /dynamic\/hosttune:(\w+)::/.exec(urn)?.[1];
  if (!kind) return undefined;
  const name = urn.slice(urn.lastIndexOf("::") + 2);
  const host = [...hosts].sort((a, b) => b.length - a.length).find((h) => name.startsWith(`${h}-`));
  return host ? { host, name, kind } : undefined;
}

type Measured = { nics: NapiEffect[] } | { cannotMeasure: string };

/** The before/after napi_poll a NicCoalescing with `measure` kept from its last change, by host. */
export function napiChanges(hosts: string[], steps: PreviewStep[]): Record<string, HostReport["napiChange"]> {
  const byHost: Record<string, NonNullable<HostReport["napiChange"]>> = {};
  for (const s of steps) {
    const at = placed(hosts, s.urn);
    const effect = s.oldState?.outputs?.effect as { before: Measured; after: Measured } | undefined;
    if (at?.kind !== "NicCoalescing" || !effect || !("nics" in effect.before) || !("nics" in effect.after)) continue;
    const before = effect.before.nics;
    for (const after of effect.after.nics) {
      const b = before.find((x) => x.device === after.device);
      if (b) (byHost[at.host] ??= []).push({ device: after.device, before: b, after });
    }
  }
  return byHost;
}

/** Each resource's state from the preview's steps, by host (a resource's name starts with its host's). */
export function resourceStates(hosts: string[], steps: PreviewStep[]): Record<string, ResourceState[]> {
  const byHost: Record<string, ResourceState[]> = Object.fromEntries(hosts.map((h) => [h, []]));
  for (const s of steps) {
    const at = placed(hosts, s.urn);
    if (!at) continue;
    const drift = s.oldState?.outputs?.drift ?? [];
    const inSync = s.op === "same" || s.op === "read" || s.op === "refresh";
    const state = inSync ? "in-sync" : s.op === "create" ? "unknown" : "drifted";
    byHost[at.host].push({ name: at.name, kind: at.kind, state, drift });
  }
  return byHost;
}

const hostFactsScript = {
  kernel: sh`uname -r`,
  systemd: sh`systemctl --version 2>/dev/null | head -n 1`,
  nics: nicsFact(),
  qdiscs: sh`tc -j qdisc show 2>/dev/null || echo '[]'`,
  schedulers: sh`for d in /sys/block/*; do
  [ -r "$d/queue/scheduler" ] && printf '%s %s\n' "$(basename "$d")" "$(cat "$d/queue/scheduler")"
done; true`,
};

function vrfFacts(units: { unit: string }[]) {
  return Object.fromEntries(units.map((u, i) => [`vrf${i}`, unitVrfFact(u.unit)]));
}

/** The bracketed scheduler of "mq-deadline [bfq] none". */
function inForce(line: string): string {
  return /\[([^\]]+)\]/.exec(line)?.[1] ?? line.trim();
}

async function readHost(
  c: Connection,
  name: string,
  tuning: Fleet["hosts"][number]["tuning"],
  o: ReportOptions,
): Promise<Omit<HostReport, "name" | "address" | "resources">> {
  const units = (tuning.vrfBoundUnits ?? []) as { unit: string }[];
  const r = await readFacts(c, { ...hostFactsScript, ...vrfFacts(units) });
  const f = r.facts;
  const nics = parseNics(fact(f, "nics").out);
  const qdiscs: Record<string, string> = {};
  for (const q of JSON.parse(fact(f, "qdiscs").out || "[]") as { dev: string; kind: string; root?: boolean }[])
    if (q.root) qdiscs[q.dev] = q.kind;
  const facts: HostFacts = {
    kernel: fact(f, "kernel").out.trim(),
    systemd: fact(f, "systemd").out.trim(),
    nics: Object.entries(nics).map(([device, n]) => ({
      device,
      driver: n.driver,
      coalescingKeys: Object.keys(supported(n.values)),
    })),
    qdiscs,
    vrfMembers: units.map((u, i) => ({ unit: u.unit, vrf: fact(f, `vrf${i}`).out.trim() })),
    schedulers: Object.fromEntries(
      fact(f, "schedulers")
        .out.split("\n")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(" ")), inForce(l.slice(l.indexOf(" ") + 1))]),
    ),
  };
  const selectors = (tuning.nicCoalescing ?? []) as NicCoalescingDesired[];
  const devices = Object.keys(nics).filter((n) => selectors.some((d) => selects(d, n, nics[n])));
  const out: Omit<HostReport, "name" | "address" | "resources"> = { reachable: true, facts };
  if (devices.length) {
    o.progress.working(name, `napi_poll on ${devices.join(", ")} (${o.window} s)`);
    const { script, timeoutMs } = napiScript(devices, o.window);
    const m = napiResult(parseFacts((await run(c, script, { timeoutMs })).stdout), devices, o.window);
    if (m.leftover.length) o.progress.line(`${name}: WARNING: left behind after measuring: ${m.leftover.join(", ")}`);
    out.napi =
      "effects" in m
        ? m.effects.map((e): NapiEffect => ({ ...e, coalescing: supported(nics[e.device]?.values ?? {}) }))
        : { cannotMeasure: m.cannotMeasure };
  }
  if (o.stolenCpu !== undefined) {
    o.progress.working(name, `stolen CPU on CPU ${o.stolenCpu} (${o.stolenSeconds} s)`);
    const s = await run(c, factScript(stolenFacts(o.stolenCpu, o.stolenSeconds)), {
      timeoutMs: (o.stolenSeconds + 120) * 1000,
    });
    out.stolen = stolenResult(parseFacts(s.stdout), o.stolenCpu, o.stolenSeconds);
  }
  return out;
}

export async function collect(
  stack: string,
  fleet: Fleet,
  secrets: FleetSecrets<string>,
  steps: PreviewStep[],
  o: ReportOptions,
): Promise<FleetReport> {
  const names = fleet.hosts.map((h) => h.name);
  const states = resourceStates(names, steps);
  const changes = napiChanges(names, steps);
  try {
    const hosts = await Promise.all(
      fleet.hosts.map(async (h): Promise<HostReport> => {
        const base = { name: h.name, address: h.host, resources: states[h.name], napiChange: changes[h.name] };
        let c: Connection | undefined;
        try {
          c = withCredentials(connectionSchema.parse(hostConnection(fleet, h, secrets)));
          o.progress.working(h.name, `reading ${target(c)}`);
          const got = await readHost(c, h.name, h.tuning, o);
          o.progress.finished(h.name, true);
          return { ...base, ...got };
        } catch (e) {
          const error = (e as Error).message;
          o.progress.finished(h.name, false, error);
          const resources = base.resources.map((r) => ({ ...r, state: "unreachable" as const }));
          return { ...base, resources, reachable: false, error };
        }
      }),
    );
    return { stack, generatedAt: new Date().toISOString(), hosts };
  } finally {
    closeAll();
  }
}
