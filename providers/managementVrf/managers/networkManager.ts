// NetworkManager (and netplan rendering to it): which interfaces it manages, and from which
// profile. hosttune does not drive it yet: an interface it owns is refused by name.
import { join, sh } from "../../core/quote";
import type { Detector, Owner } from "./types";

// netplan's NetworkManager renderer writes netplan-<id>.nmconnection here.
const NETPLAN_RUN = /^\/run\/NetworkManager\/system-connections\/netplan-/;
// NM's device states: 10 unmanaged; 20 and up, managed. "(externally)": configured by another.
const MANAGED = 20;

export const detector: Detector = {
  fact: (interfaces) =>
    sh`systemctl is-active -q NetworkManager.service || exit 0
active=$(nmcli -g DEVICE,FILENAME connection show --active 2>/dev/null)
${join(
  interfaces.map(
    (i) =>
      sh`state=$(nmcli -g GENERAL.STATE device show ${i} 2>/dev/null)
file=$(printf '%s\n' "$active" | awk -F: -v i=${i} '$1 == i { print $2; exit }')
printf '%s|%s|%s\n' ${i} "$state" "$file"`,
  ),
)}`,
  owners(out) {
    const owners: Record<string, Owner> = {};
    for (const line of out.split("\n")) {
      const [i, state, file] = line.split("|");
      if (!i || !state || Number.parseInt(state, 10) < MANAGED || state.includes("externally")) continue;
      owners[i] = {
        manager: NETPLAN_RUN.test(file ?? "") ? "netplan" : "NetworkManager",
        source: file || `NetworkManager (${state.trim()}, no profile active)`,
      };
    }
    return owners;
  },
};
