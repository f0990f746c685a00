// netplan rendering to systemd-networkd: a `vrfs:` entry in a file of ours under /etc/netplan
// (netplan makes the VRF and gives each port VRF=, so networkd puts the ports' routes, DHCP's
// too, in its table), applied with `netplan apply`. What netplan 0.106 (Debian 12) cannot say
// for a VRF, loopback addresses and the local rule on a rule with no from/to, goes into a
// networkd drop-in for the .network netplan renders for the VRF, as networkd's own users would.
// netplan rendering to NetworkManager is not driven: refused by name.
import { join, sh } from "../../core/quote";
import { HEADER, type ManagementVrfDesired } from "../schema";
import * as networkd from "./networkd";
import type { Driver, FileSpec, HostView } from "./types";

// What netplan renders for networkd: /run/systemd/network/10-netplan-<id>.network.
const RENDERED = /^\/run\/systemd\/network\/10-netplan-(.+)\.network$/;

export const paths = (d: ManagementVrfDesired) => ({
  // netplan reads /etc/netplan/*.yaml in name order, and a VRF may name only interfaces defined
  // in its own file or an earlier one: ours sorts last.
  yaml: `/etc/netplan/99-hosttune-vrf-${d.name}.yaml`,
  dropIn: `/etc/systemd/network/10-netplan-${d.name}.network.d/50-hosttune-vrf-${d.name}.conf`,
  rulesUnit: networkd.paths(d).rulesUnit,
});

/** The netplan ID of each interface, from the file netplan rendered for it. */
function ids(d: ManagementVrfDesired, h: HostView): string[] {
  return d.interfaces.map((i) => {
    const o = h.owners[i]?.find((x) => x.manager === "netplan");
    const id = o && RENDERED.exec(o.source)?.[1];
    if (!id)
      throw new Error(
        `interface ${i} is configured by netplan (${o?.source ?? "?"}) rendering to NetworkManager, ` +
          "which hosttune cannot drive yet (it drives netplan rendering to systemd-networkd); nothing was changed",
      );
    return id;
  });
}

function render(d: ManagementVrfDesired, h: HostView): Record<string, FileSpec> {
  const p = paths(d);
  const q = JSON.stringify;
  const files: Record<string, FileSpec> = {
    // netplan warns of a file others may read.
    [p.yaml]: {
      content: `${HEADER}
network:
  version: 2
  vrfs:
    ${q(d.name)}:
      table: ${d.table}
      interfaces: [${ids(d, h)
        .map((x) => q(x))
        .join(", ")}]
`,
      mode: "0600",
    },
    [p.dropIn]: { content: `${HEADER}\n${networkd.vrfNetwork(d)}` },
  };
  if (d.reorderLocalRule) files[p.rulesUnit] = { content: networkd.rulesUnit(d) };
  return files;
}

export const driver: Driver = {
  name: "netplan",
  paths: (d) => Object.values(paths(d)),
  render,
  up: (d) => ({
    describe: `netplan: create VRF ${d.name} (table ${d.table}) and enslave ${d.interfaces.join(", ")} (netplan apply)`,
    // netplan apply asks networkd to configure every interface at once, before the VRF is made
    // (networkd 252 then leaves them out of it): once it is, they are configured again.
    run: sh`modprobe vrf
netplan apply
${networkd.waitForVrf(d)}
networkctl reconfigure -- ${d.name} ${d.interfaces}`,
  }),
  // netplan apply never deletes a virtual device it no longer configures: deleted here, then
  // networkd puts the interfaces back in the main table. A netplan apply that fails (a file of the
  // operator's it cannot parse) renders nothing: that is no failure here unless what it rendered
  // before still makes the VRF.
  down: (d) => ({
    describe: `netplan: delete VRF ${d.name} and give ${d.interfaces.join(", ")} back to the main table (netplan apply)`,
    run: join([
      sh`netplan apply || ! [ -e ${`/run/systemd/network/10-netplan-${d.name}.netdev`} ]`,
      sh`ip link del dev ${d.name} 2>/dev/null || true`,
      sh`sleep 1`,
      sh`networkctl reconfigure -- ${d.interfaces}`,
    ]),
  }),
  localRule: networkd.localRule,
  rulesUnit: true,
};
