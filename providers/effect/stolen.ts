// CPU stolen by the kernel from a pinned process that never enters it (D. Ahern's method):
// `openssl speed` on one CPU for a window; its system time is work (softirqs, mostly networking)
// the kernel did in its time slices. Optional: it keeps that CPU busy for the whole window.
import type { CannotMeasure, StolenCpu } from "../../report/model";
import { fact, type Facts } from "../core/facts";
import { sh, type Raw } from "../core/quote";

export const CANNOT_MEASURE_STOLEN =
  "cannot measure stolen CPU: install openssl and taskset (Debian: openssl, util-linux)";
const NO_TOOL = 4;

export function stolenFacts(cpu: number, seconds: number): Record<string, Raw> {
  return {
    // The shell's `times` gives its children's user and system time: no /usr/bin/time needed.
    stolen: sh`command -v openssl >/dev/null && command -v taskset >/dev/null || { echo ${CANNOT_MEASURE_STOLEN}; exit ${NO_TOOL}; }
[ -d /sys/devices/system/cpu/cpu${cpu} ] || { echo "cannot measure stolen CPU: no CPU ${cpu} on this host"; exit ${NO_TOOL}; }
timeout -k 5 ${seconds + 60} taskset -c ${cpu} openssl speed -seconds ${seconds} -bytes 16384 aes-256-cbc >/dev/null 2>&1 || exit 2
times`,
  };
}

/** `times` prints "0m0.01s 0m0.00s" for the shell, then the same for its children. */
function seconds(s: string): number {
  const m = /^(\d+)m(\d+(?:\.\d+)?)s$/.exec(s);
  if (!m) throw new Error(`unexpected time ${JSON.stringify(s)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function stolenResult(facts: Facts, cpu: number, window: number): StolenCpu | CannotMeasure {
  const f = fact(facts, "stolen");
  if (f.rc === NO_TOOL) return { cannotMeasure: f.out.trim() };
  const lines = f.out.trim().split("\n");
  if (f.rc !== 0 || lines.length < 2) return { cannotMeasure: `openssl speed failed (rc ${f.rc}): ${f.out.trim()}` };
  const [user, system] = lines[lines.length - 1].trim().split(/\s+/).map(seconds);
  return {
    cpu,
    seconds: window,
    userSeconds: user,
    systemSeconds: system,
    stolenShare: user + system > 0 ? system / (user + system) : 0,
  };
}
