// Facts for NicCoalescing: every NIC with a driver, its current coalescing (ethtool --json -c
// where ethtool has it, else the text of ethtool -c), and our udev rule. The NIC set is
// resolved on every probe, so a NIC that appears later is converged on the next run.
import { fileContent, fileFact } from "../core/files";
import { fact, type Facts, type FactSources } from "../core/facts";
import { globMatch } from "../core/glob";
import { sh, type Raw } from "../core/quote";
import { ALL_PARAMS, BOOLEAN_PARAMS, type NicCoalescingDesired, NUMERIC_PARAMS, type Param, RULES_DIR } from "./schema";

/** A parameter's value; null where ethtool shows n/a (the driver does not support it). */
export type Value = number | boolean | null;

export interface Nic {
  driver: string;
  /** Parameters this host's ethtool reports; one it does not know is absent. */
  values: Partial<Record<Param, Value>>;
  /** ethtool -c's message when it failed for this NIC. */
  error?: string;
}

export interface NicCoalescingObserved {
  ethtool: string;
  /** The NICs the selector matches, by name. */
  nics: Record<string, Nic>;
  /** Our rule file's content, null when absent. */
  rule: string | null;
}

const NIC = "\x1enic ";
const RC = "\x1erc ";

// A failed --json run has already printed "[ ]" (ethtool opens the JSON array before asking the
// kernel), so its output is kept only on success; ethtool -c then prints the error alone.
export function probeFacts(d: NicCoalescingDesired): FactSources {
  return {
    ethtool: sh`command -v ethtool && ethtool --version`,
    nics: nicsFact(),
    rule: fileFact(`${RULES_DIR}/${d.ruleFile}`),
  };
}

/** Every NIC with a driver and its coalescing (read by parseNics). */
export function nicsFact(): Raw {
  return sh`for d in /sys/class/net/*; do
  [ -e "$d/device/driver" ] || continue
  n=$(basename "$d")
  printf '\036nic %s %s\n' "$n" "$(basename "$(readlink "$d/device/driver")")"
  if j=$(ethtool --json -c "$n" 2>/dev/null); then printf '%s\n' "$j"; else ethtool -c "$n" 2>&1; fi
  printf '\n\036rc %s\n' "$?"
done`;
}

/**
 * The names ethtool prints for parameters where they are not the `ethtool -C` name, in every
 * release (netlink/coalesce.c; ethtool.c's dump_coalesce for the ioctl path): the -low/-high frame
 * counts are singular in text and JSON alike, and text shows the pairs as "Adaptive RX: on  TX: off".
 */
const PRINTED: Record<string, Param> = {
  "rx-frame-low": "rx-frames-low",
  "tx-frame-low": "tx-frames-low",
  "rx-frame-high": "rx-frames-high",
  "tx-frame-high": "tx-frames-high",
  "Adaptive RX": "adaptive-rx",
  "Adaptive TX": "adaptive-tx",
  "CQE mode RX": "cqe-mode-rx",
  "CQE mode TX": "cqe-mode-tx",
};

/** The parameter a printed name stands for, given those already read; undefined for any other name. */
function paramOf(name: string, read: Partial<Record<Param, Value>>): Param | undefined {
  // JSON of ethtool 6.2-6.13 keys both pairs "rx"/"tx": the adaptive pair comes first, before
  // every numeric parameter, the CQE pair after them.
  if (name === "rx" || name === "tx")
    return `adaptive-${name}` in read || NUMERIC_PARAMS.some((p) => p in read)
      ? `cqe-mode-${name}`
      : `adaptive-${name}`;
  const p = PRINTED[name] ?? name;
  return (ALL_PARAMS as readonly string[]).includes(p) ? (p as Param) : undefined;
}

/** on/off in text, true/false in JSON; n/a: the driver does not support the parameter. */
const WORDS: Record<string, Value> = { on: true, true: true, off: false, false: false, "n/a": null };

/** Printed (name, value) pairs, in ethtool's order, to parameter values. */
function toValues(pairs: Iterable<[string, string]>): Partial<Record<Param, Value>> {
  const values: Partial<Record<Param, Value>> = {};
  for (const [name, v] of pairs) {
    const p = paramOf(name, values);
    if (p) values[p] = v in WORDS ? WORDS[v] : Number(v);
  }
  return values;
}

/** ethtool -c text (ethtool <= 6.1, or no JSON). A parameter this ethtool does not print is absent. */
export function parseCoalesceText(text: string): Partial<Record<Param, Value>> {
  const pairs: [string, string][] = [];
  for (const line of text.split("\n")) {
    const pair = /^(Adaptive|CQE mode) RX: (\S+)\s+TX: (\S+)/.exec(line);
    if (pair) pairs.push([`${pair[1]} RX`, pair[2]], [`${pair[1]} TX`, pair[3]]);
    // "name: value"; ethtool 6.3-6.8 printed tx-aggr-time-usecs without its colon.
    const kv = /^([a-z-]+):?\s+(\S+)$/.exec(line);
    if (kv) pairs.push([kv[1], kv[2]]);
  }
  return toValues(pairs);
}

/** ethtool --json -c (ethtool >= 6.2): unsupported parameters are left out, so read as null. */
export function parseCoalesceJson(text: string): Partial<Record<Param, Value>> {
  // Key by key in order, not JSON.parse, which keeps only the last of 6.2-6.13's repeated "rx"/"tx".
  const values = toValues(Array.from(text.matchAll(/"([^"]+)":\s*(true|false|\d+)/g), (m) => [m[1], m[2]]));
  return Object.fromEntries(ALL_PARAMS.map((p) => [p, values[p] ?? null]));
}

/** The parameters a NIC's driver supports (ethtool shows the others as n/a), with their values. */
export function supported(values: Nic["values"]): Record<string, number | boolean> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null)) as Record<string, number | boolean>;
}

export function parseNics(out: string): Record<string, Nic> {
  const nics: Record<string, Nic> = {};
  for (const chunk of out.split(NIC).slice(1)) {
    const nl = chunk.indexOf("\n");
    const [name, driver] = chunk.slice(0, nl).split(" ");
    const body = chunk.slice(nl + 1);
    const end = body.lastIndexOf("\n" + RC);
    const rc = Number.parseInt(body.slice(end + 1 + RC.length), 10);
    const text = body.slice(0, end).trim();
    if (rc !== 0) nics[name] = { driver, values: {}, error: text };
    else nics[name] = { driver, values: text.startsWith("[") ? parseCoalesceJson(text) : parseCoalesceText(text) };
  }
  return nics;
}

export function selects(
  d: Pick<NicCoalescingDesired, "interface" | "match" | "driver">,
  name: string,
  nic: Nic,
): boolean {
  if (d.interface && name !== d.interface) return false;
  if (d.match && !globMatch(d.match, name)) return false;
  return !d.driver || nic.driver === d.driver;
}

export function managed(d: NicCoalescingDesired): Param[] {
  return ALL_PARAMS.filter((p) => d.settings[p] !== undefined);
}

/** Refuses, before any change, what a matched NIC cannot do. */
function checkSupport(name: string, nic: Nic, d: NicCoalescingDesired, ethtoolVersion: string) {
  if (nic.error) throw new Error(`ethtool -c ${name} (driver ${nic.driver}) failed: ${nic.error}`);
  for (const p of managed(d)) {
    if (!(p in nic.values))
      throw new Error(
        `${name} (driver ${nic.driver}): this host's ${ethtoolVersion} does not know coalescing parameter ${p}; remove it or upgrade ethtool`,
      );
    if (nic.values[p] === null)
      throw new Error(
        `${name} (driver ${nic.driver}) does not support coalescing parameter ${p} (ethtool -c shows n/a); remove it for this NIC`,
      );
  }
}

export function observe(facts: Facts, d: NicCoalescingDesired): NicCoalescingObserved {
  const eth = fact(facts, "ethtool");
  if (eth.rc !== 0) throw new Error("ethtool is not installed on the host; install it (package ethtool)");
  const [path, version] = eth.out.trim().split("\n");
  const all = parseNics(fact(facts, "nics").out);
  const nics = Object.fromEntries(Object.entries(all).filter(([n, nic]) => selects(d, n, nic)));
  if (d.interface && !nics[d.interface])
    throw new Error(
      all[d.interface]
        ? `interface ${d.interface} has driver ${all[d.interface].driver}, not ${d.driver}`
        : `interface ${d.interface} does not exist (NICs here: ${Object.keys(all).join(", ") || "none"})`,
    );
  for (const [n, nic] of Object.entries(nics)) checkSupport(n, nic, d, version ?? "ethtool");
  const rule = fact(facts, "rule");
  return { ethtool: path, nics, rule: fileContent(rule) };
}

export const isBoolean = (p: Param) => (BOOLEAN_PARAMS as readonly string[]).includes(p);
