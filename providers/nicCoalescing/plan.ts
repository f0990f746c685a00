// Pure planning for NicCoalescing: per-NIC `ethtool -C` of the parameters that differ, the
// udev rule that re-applies them when the NIC appears, and the asked-vs-got check.
import { udevRuleFileSteps } from "../core/files";
import { sh } from "../core/quote";
import type { Drift } from "../core/spec";
import type { Step } from "../core/steps";
import { isBoolean, managed, type NicCoalescingObserved } from "./probe";
import { type NicCoalescingDesired, type Param, RULES_DIR, type Settings } from "./schema";

export interface NicCoalescingTarget {
  nics: Record<string, Partial<Record<Param, number | boolean>>>;
  rule: string | null;
}

const arg = (p: Param, v: number | boolean) => [p, isBoolean(p) ? (v ? "on" : "off") : String(v)];

function ethtoolArgs(settings: Partial<Record<Param, number | boolean>>): string[] {
  return Object.entries(settings).flatMap(([p, v]) => arg(p as Param, v as number | boolean));
}

/** The udev rule: on add of a matching NIC (boot, driver reload, hotplug), run ethtool -C. */
export function renderRule(d: NicCoalescingDesired, ethtool: string): string {
  const match = ['ACTION=="add"', 'SUBSYSTEM=="net"'];
  if (d.driver) match.push(`DRIVERS=="${d.driver}"`);
  // The name test runs in sh on udev's $name (the final name): udev's KERNEL== would see the
  // pre-rename name. Names and globs are validated to [A-Za-z0-9_.:@*?[]!-], safe in both.
  const pattern = d.interface ?? d.match ?? "*";
  const settings = Object.fromEntries(managed(d).map((p) => [p, d.settings[p as keyof Settings] as number | boolean]));
  const cmd = `case $$1 in ${pattern}) exec ${ethtool} -C $$1 ${ethtoolArgs(settings).join(" ")} ;; esac`;
  return [
    "# Managed by hosttune (NicCoalescing): re-applies IRQ coalescing whenever a matching NIC",
    "# appears (boot, driver reload, hotplug). Sorts after 80-net-setup-link.rules so that",
    "# $name is the interface's final name.",
    `${match.join(", ")}, RUN+="/bin/sh -c '${cmd}' hosttune-coalesce $name"`,
    "",
  ].join("\n");
}

export function want(d: NicCoalescingDesired, o: NicCoalescingObserved): NicCoalescingTarget {
  const settings = Object.fromEntries(managed(d).map((p) => [p, d.settings[p as keyof Settings]])) as Partial<
    Record<Param, number | boolean>
  >;
  return { nics: Object.fromEntries(Object.keys(o.nics).map((n) => [n, settings])), rule: renderRule(d, o.ethtool) };
}

/** Back to what create found: each NIC's recorded values of the managed parameters, and the old rule file. */
export function restore(
  d: NicCoalescingDesired,
  recorded: NicCoalescingObserved,
  current: NicCoalescingObserved,
): NicCoalescingTarget {
  const nics: NicCoalescingTarget["nics"] = {};
  for (const [n, nic] of Object.entries(recorded.nics)) {
    if (!current.nics[n]) continue;
    nics[n] = Object.fromEntries(
      managed(d).flatMap((p) =>
        typeof nic.values[p] === "number" || typeof nic.values[p] === "boolean" ? [[p, nic.values[p]]] : [],
      ),
    );
  }
  return { nics, rule: recorded.rule };
}

function differing(
  t: Partial<Record<Param, number | boolean>>,
  got: Partial<Record<Param, unknown>>,
): Partial<Record<Param, number | boolean>> {
  return Object.fromEntries(Object.entries(t).filter(([p, v]) => got[p as Param] !== v));
}

export function plan(t: NicCoalescingTarget, o: NicCoalescingObserved, d: NicCoalescingDesired): Step[] {
  const steps: Step[] = [];
  for (const [n, settings] of Object.entries(t.nics)) {
    const change = differing(settings, o.nics[n]?.values ?? {});
    if (Object.keys(change).length === 0) continue;
    const args = ethtoolArgs(change);
    steps.push({
      describe: `ethtool -C ${n} ${args.join(" ")} (driver ${o.nics[n].driver})`,
      run: sh`${o.ethtool} -C ${n} ${args}`,
    });
  }
  return [...steps, ...udevRuleFileSteps(`${RULES_DIR}/${d.ruleFile}`, t.rule, o.rule)];
}

export function drift(t: NicCoalescingTarget, o: NicCoalescingObserved): Drift[] {
  const out: Drift[] = [];
  for (const [n, settings] of Object.entries(t.nics)) {
    const nic = o.nics[n];
    if (!nic) continue;
    for (const [p, v] of Object.entries(differing(settings, nic.values)))
      out.push({ field: `${n} (driver ${nic.driver}) ${p}`, asked: v, got: nic.values[p as Param] });
  }
  if (o.rule !== t.rule) out.push({ field: "udev rule", asked: t.rule, got: o.rule });
  return out;
}
