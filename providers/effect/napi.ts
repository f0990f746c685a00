// napi_poll per NIC over a window: how many packets each poll handled (J. Kicinski's way of seeing
// what coalescing does: polls that find no RX work are mostly TX completions woken by interrupts),
// with the NIC's hardware interrupts per second. Counted by bpftrace where the host has it, else
// by perf, else through a tracefs instance of our own; a host with none is told what to install.
// Bounded and safe: a hard time limit on the host, the lowest CPU priority for work done per event
// in user space (perf script, the tracefs reader), counts aggregated on the host, and a check that
// no tracer process or tracefs instance of ours is left behind.
import type { NapiEffect } from "../../report/model";
import { fact, factScript, type Facts } from "../core/facts";
import { raw, sh, type Raw } from "../core/quote";

export const CANNOT_MEASURE = "cannot measure napi_poll: install bpftrace or perf (Debian: bpftrace, linux-perf)";
const NO_TRACER = 4;
/**
 * Beyond the window: a tracer's start (bpftrace compiles its program; slow on a small host). On the
 * lab's VMs (one TCG CPU, a flood ping into the NIC, the machine busy) bpftrace took 25 to 95 s to
 * start, and once more than 120.
 */
const START_ALLOWANCE_S = 300;

const TRACEFS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
// perf and tracefs print "napi poll on napi struct ... for device eth0 work 1 budget 64": counted on
// the host, so that a busy NIC sends a few lines rather than one per poll.
export const AGGREGATE = `awk '{ d = ""; w = ""; for (i = 1; i < NF; i++) { if ($i == "device") d = $(i + 1); if ($i == "work") w = $(i + 1) }
if (d != "" && w != "") c[d " " w]++ } END { for (k in c) print "@", k, c[k] }'`;

/** IRQ numbers per device, then /proc/interrupts, stamped with the uptime. */
function irqFact(devices: string[]): Raw {
  return sh`read up _ </proc/uptime; echo "uptime $up"
for d in ${devices}; do
  printf 'dev %s' "$d"
  for m in /sys/class/net/"$d"/device/msi_irqs /sys/class/net/"$d"/device/../msi_irqs; do
    [ -d "$m" ] || continue; (cd "$m" && for i in *; do [ -e "$i" ] && printf ' %s' "$i"; done); break
  done
  echo
done
cat /proc/interrupts`;
}

/** The facts of one measurement, run one after another: interrupts, the window, interrupts again. */
export function napiFacts(devices: string[], seconds: number): Record<string, Raw> {
  // The device named as the tracepoint names it (napi->dev's name, else "(no_device)"), but read
  // from the napi struct: Debian 13's bpftrace 0.23 reads the tracepoint's own dev_name, a
  // __data_loc string, from the wrong offset and counted every poll under an empty name (fixed
  // upstream by bpftrace commit 665b754, "codegen: Fix __data_loc reads"). Debian 12's bpftrace
  // 0.17 reads both the same.
  const program = `tracepoint:napi:napi_poll {
  if (args->napi->dev != 0) { @[args->napi->dev->name, args->work] = count(); } else { @["(no_device)", args->work] = count(); }
} interval:s:${seconds} { exit(); }`;
  const limit = seconds + START_ALLOWANCE_S;
  // bpftrace runs at the host's own priority: it counts in the kernel, where nice does nothing, and
  // niced its start (the compile) starved on a busy CPU. On the bookworm lab VM (one TCG CPU, a
  // flood ping into its e1000e) it had not started after 300 s at nice 19; it started in 25-32 s
  // at nice 0.
  return {
    irqs0: irqFact(devices),
    trace: sh`if command -v bpftrace >/dev/null 2>&1; then
  echo "source bpftrace"
  timeout -k 5 -s INT ${limit} bpftrace -q -e ${program}
elif command -v perf >/dev/null 2>&1 && perf list 2>/dev/null | grep -q 'napi:napi_poll'; then
  echo "source perf"
  f=$(mktemp) || exit 2
  trap 'rm -f "$f"' EXIT
  timeout -k 5 -s INT ${limit} nice -n 19 perf record -q -e napi:napi_poll -a -o "$f" -- sleep ${seconds} >/dev/null 2>&1
  nice -n 19 perf script -i "$f" -F trace 2>/dev/null | ${raw(AGGREGATE)}
else
  for t in ${TRACEFS}; do [ -e "$t/instances" ] && [ -e "$t/events/napi/napi_poll" ] && break; t=; done
  [ -n "$t" ] || { echo ${CANNOT_MEASURE}; exit ${NO_TRACER}; }
  echo "source tracefs"
  i="$t/instances/hosttune-napi-$$"
  mkdir "$i" || exit 2
  trap 'echo 0 > "$i/events/napi/napi_poll/enable"; rmdir "$i"' EXIT
  echo 1 > "$i/events/napi/napi_poll/enable" || exit 2
  timeout -s INT ${seconds} nice -n 19 cat "$i/trace_pipe" | ${raw(AGGREGATE)}
fi`,
    irqs1: irqFact(devices),
    // What a window could leave behind, looked for after it: a tracer in this session (where
    // everything this command started runs), an instance of ours.
    left: sh`pgrep -a -s 0 -x 'bpftrace|perf'; for t in ${TRACEFS}; do ls -d "$t"/instances/hosttune-napi-* 2>/dev/null; done; true`,
  };
}

/** How long a measurement of a `seconds` window may take, start and a margin included. */
export function napiTimeoutMs(seconds: number): number {
  return (seconds + START_ALLOWANCE_S + 60) * 1000;
}

/** The script of one measurement, with its deadline. */
export function napiScript(devices: string[], seconds: number): { script: Raw; timeoutMs: number } {
  return { script: factScript(napiFacts(devices, seconds)), timeoutMs: napiTimeoutMs(seconds) };
}

/** Polls by device and work from bpftrace's map ("@[eth0, 0]: 12") or our awk ("@ eth0 0 12"). */
export function parseCounts(out: string): Record<string, Record<string, number>> {
  const counts: Record<string, Record<string, number>> = {};
  for (const line of out.split("\n")) {
    const m = /^@\[(.*), (-?\d+)\]: (\d+)$/.exec(line.trim()) ?? /^@ (\S+) (-?\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const [, dev, work, n] = m;
    (counts[dev] ??= {})[work] = (counts[dev][work] ?? 0) + Number(n);
  }
  return counts;
}

interface IrqSnapshot {
  uptime: number;
  irqs: Record<string, string[]>;
  /** Interrupts per IRQ number, summed over CPUs. */
  counts: Record<string, number>;
}

export function parseIrqs(out: string): IrqSnapshot {
  const s: IrqSnapshot = { uptime: Number.NaN, irqs: {}, counts: {} };
  for (const line of out.split("\n")) {
    const up = /^uptime (\d+(?:\.\d+)?)$/.exec(line);
    if (up) s.uptime = Number(up[1]);
    const dev = /^dev (\S+)(.*)$/.exec(line);
    if (dev) s.irqs[dev[1]] = dev[2].trim().split(/\s+/).filter(Boolean);
    const irq = /^\s*(\d+):((?:\s+\d+)+)/.exec(line);
    if (irq)
      s.counts[irq[1]] = irq[2]
        .trim()
        .split(/\s+/)
        .map(Number)
        .reduce((a, b) => a + b, 0);
  }
  return s;
}

export type NapiResult =
  { effects: Omit<NapiEffect, "coalescing">[]; leftover: string[] } | { cannotMeasure: string; leftover: string[] };

/** Reads one measurement's facts; `seconds` is the window asked for. */
export function napiResult(facts: Facts, devices: string[], seconds: number): NapiResult {
  const trace = fact(facts, "trace");
  const leftover = fact(facts, "left").out.split("\n").filter(Boolean);
  if (trace.rc === NO_TRACER) return { cannotMeasure: trace.out.trim() || CANNOT_MEASURE, leftover };
  const source = /^source (bpftrace|perf|tracefs)$/m.exec(trace.out)?.[1] as NapiEffect["source"] | undefined;
  if (trace.rc !== 0 || !source)
    return { cannotMeasure: `napi_poll trace failed (rc ${trace.rc}): ${trace.out.trim().slice(-500)}`, leftover };
  const counts = parseCounts(trace.out);
  // A tracer that cannot read device names counts every poll under "": no NIC would show any.
  const nameless = Object.values(counts[""] ?? {}).reduce((x, y) => x + y, 0);
  if (nameless)
    return {
      cannotMeasure:
        `napi_poll trace failed: ${source} counted ${nameless} polls under no device name ` +
        "(it could not read the tracepoint's device names)",
      leftover,
    };
  const [a, b] = [parseIrqs(fact(facts, "irqs0").out), parseIrqs(fact(facts, "irqs1").out)];
  const elapsed = b.uptime - a.uptime;
  const effects = devices.map((device) => {
    const histogram = counts[device] ?? {};
    const polls = Object.values(histogram).reduce((x, y) => x + y, 0);
    const irqs = a.irqs[device] ?? [];
    const fired = irqs.reduce((n, i) => n + ((b.counts[i] ?? 0) - (a.counts[i] ?? 0)), 0);
    return {
      device,
      source,
      windowSeconds: seconds,
      histogram,
      polls,
      pollsPerSecond: polls / seconds,
      zeroWorkShare: polls ? (histogram["0"] ?? 0) / polls : null,
      irqsPerSecond: irqs.length && elapsed > 0 ? fired / elapsed : null,
    };
  });
  return { effects, leftover };
}
