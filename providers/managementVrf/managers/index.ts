// The network managers ManagementVrf knows: each one's detector (does it own an interface?) and
// the drivers of those hosttune drives. The probe runs every detector; the plan drives the one
// manager that owns all of the VRF's interfaces, and refuses anything else by name.
import * as ifupdown from "./ifupdown";
import * as netplan from "./netplan";
import * as networkd from "./networkd";
import * as networkManager from "./networkManager";
import type { Detector, Driver, ManagerName, Owner } from "./types";

export type { Driver, FileSpec, HostView, ManagerName, Owner } from "./types";

/** The detectors, by fact name (networkd's keeps the name of the fact it was before managers). */
export const detectors: Record<string, Detector> = {
  networkFiles: networkd.detector,
  nmDevices: networkManager.detector,
  ifquery: ifupdown.detector,
};

export const drivers: Partial<Record<ManagerName, Driver>> = {
  networkd: networkd.driver,
  netplan: netplan.driver,
  NetworkManager: networkManager.driver,
  ifupdown: ifupdown.driver,
};

const named = (o: Owner) => `${o.manager} (${o.source})`;

/** The one driver that owns every interface of the VRF; a plain Error naming what was found otherwise. */
export function managerOf(interfaces: string[], owners: Record<string, Owner[]>): Driver {
  const each = interfaces.map((i) => {
    const found = owners[i] ?? [];
    if (!found.length)
      throw new Error(
        `interface ${i} is configured by no network manager that hosttune can see (systemd-networkd or netplan: not running or no .network file; ` +
          `NetworkManager: not running or the device unmanaged; ifupdown: no stanza); configure ${i} with one of them first`,
      );
    if (found.length > 1)
      throw new Error(
        `interface ${i} is configured by ${found.length} network managers at once: ${found.map(named).join(" and ")}; ` +
          "leave it to one of them, then run again",
      );
    return { i, owner: found[0] };
  });
  const managers = new Set(each.map((e) => e.owner.manager));
  if (managers.size > 1)
    throw new Error(
      `the interfaces of one VRF must share one network manager: ${each.map((e) => `${e.i} is ${named(e.owner)}`).join(", ")}`,
    );
  const { manager } = each[0].owner;
  const driver = drivers[manager];
  if (!driver)
    throw new Error(
      `interface ${each[0].i} is configured by ${named(each[0].owner)}, which hosttune cannot drive yet ` +
        `(it drives ${Object.keys(drivers).join(", ")}); nothing was changed`,
    );
  return driver;
}
