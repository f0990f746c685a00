// Facts for VrfBoundSystemdUnit: the unit's state and effective ExecStart (systemctl), our
// drop-in, whether the VRF exists, which VRF the main process is in (ip vrf identify), and
// whether that process serves the SSH connection the probe came through.
import { fileContent, fileFact } from "../core/files";
import { fact, type Facts, type FactSources } from "../core/facts";
import { sh, type Raw } from "../core/quote";
import { effectiveExecStart } from "./execStart";
import { dropInDir, type VrfBoundSystemdUnitDesired } from "./schema";

export interface VrfBoundSystemdUnitObserved {
  ip: string;
  activeState: string;
  user: string;
  /** ExecStart lines without our drop-in: what we wrap. */
  execStart: string[];
  mainPid: number;
  /** The VRF the main process runs in ("" = default VRF). */
  pidVrf: string;
  dropIn: string | null;
  /** The unit serves our SSH connection: its main process is an ancestor of the probe's shell. */
  servesUs: boolean;
}

/** The VRF the unit's main process runs in (empty: none, or not running). */
export function unitVrfFact(unit: string): Raw {
  return sh`pid=$(systemctl show -p MainPID --value -- ${unit})
[ "$pid" -gt 0 ] 2>/dev/null && ip vrf identify "$pid"; true`;
}

export function probeFacts(d: VrfBoundSystemdUnitDesired): FactSources {
  const path = `${dropInDir(d.unit)}/${d.dropInName}`;
  return {
    ip: sh`command -v ip`,
    show: sh`systemctl show -p LoadState -p ActiveState -p MainPID -p User -- ${d.unit}`,
    cat: sh`systemctl cat -- ${d.unit} 2>/dev/null`,
    vrf: sh`ip -d -j link show dev ${d.vrf}`,
    pidVrf: unitVrfFact(d.unit),
    dropIn: fileFact(path),
    servesUs: sh`pid=$(systemctl show -p MainPID --value -- ${d.unit}); p=$$
while [ "$p" -gt 1 ] 2>/dev/null; do
  [ "$p" = "$pid" ] && { echo yes; exit 0; }
  p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/"$p"/status)
done
echo no`,
  };
}

function props(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

export function observe(facts: Facts, d: VrfBoundSystemdUnitDesired): VrfBoundSystemdUnitObserved {
  const show = props(fact(facts, "show").out);
  if (show.LoadState !== "loaded")
    throw new Error(
      `unit ${d.unit} is not loaded (LoadState=${show.LoadState ?? "?"}); install it or fix the unit name`,
    );
  const vrf = fact(facts, "vrf");
  const kind = vrf.rc === 0 ? (JSON.parse(vrf.out)[0]?.linkinfo?.info_kind as string | undefined) : undefined;
  if (kind !== "vrf")
    throw new Error(
      vrf.rc !== 0
        ? `VRF ${d.vrf} does not exist; create it first (ManagementVrf)`
        : `${d.vrf} is a ${kind ?? "plain"} device, not a VRF`,
    );
  if (show.User && show.User !== "root")
    throw new Error(`unit ${d.unit} runs as User=${show.User}; ip vrf exec needs root, so it cannot wrap this unit`);
  const dropIn = fact(facts, "dropIn");
  const execStart = effectiveExecStart(fact(facts, "cat").out, `${dropInDir(d.unit)}/${d.dropInName}`);
  if (execStart.length === 0) throw new Error(`unit ${d.unit} has no ExecStart to wrap`);
  return {
    ip: fact(facts, "ip").out.trim() || "/usr/bin/ip",
    activeState: show.ActiveState ?? "unknown",
    user: show.User || "root",
    execStart,
    mainPid: Number(show.MainPID ?? 0),
    pidVrf: fact(facts, "pidVrf").out.trim(),
    dropIn: fileContent(dropIn),
    servesUs: fact(facts, "servesUs").out.trim() === "yes",
  };
}
