// ManagementVrf through netplan and NetworkManager (issue 24): the probe's parse of what lab VMs
// said (lab/manager.sh netplan | NetworkManager, captured before and after a converge), and the
// pure plan each manager's driver makes of it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFacts } from "../../providers/core/facts";
import { portProfile, uuidOf } from "../../providers/managementVrf/managers/networkManager";
import { drift, plan, restore, want } from "../../providers/managementVrf/plan";
import { observe } from "../../providers/managementVrf/probe";
import { managementVrfSchema } from "../../providers/managementVrf/schema";

const fixture = (name: string) => parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", name), "utf8"));
const d = managementVrfSchema.parse({ interfaces: ["enp0s2", "up0"], resolver: "disableResolved" });
const text = (s: { run: { text: string } } | object) => ("run" in s ? s.run.text : "");

describe("ManagementVrf on netplan (rendering to networkd)", () => {
  // Debian 13, /etc/netplan/50-lab.yaml: enp0s2 static, up0 by DHCP; systemd-resolved serves the host.
  const before = observe(fixture("managementVrf-netplan-trixie.txt"), d);
  const after = observe(fixture("managementVrf-netplan-trixie-converged.txt"), d);

  it("finds netplan owning both interfaces, from the files it rendered for networkd", () => {
    expect(before.owners).toEqual({
      enp0s2: [{ manager: "netplan", source: "/run/systemd/network/10-netplan-enp0s2.network" }],
      up0: [{ manager: "netplan", source: "/run/systemd/network/10-netplan-up0.network" }],
    });
  });

  it("plans a vrfs entry of its own (private), networkd's drop-in for the VRF, netplan apply, then the local rule", () => {
    const t = want(d, before);
    expect(t.manager).toBe("netplan");
    expect(t.files["/etc/netplan/99-hosttune-vrf-mgmt.yaml"]).toBe(
      "# Managed by hosttune (ManagementVrf).\nnetwork:\n  version: 2\n  vrfs:\n" +
        '    "mgmt":\n      table: 1000\n      interfaces: ["enp0s2", "up0"]\n',
    );
    expect(t.modes).toEqual({ "/etc/netplan/99-hosttune-vrf-mgmt.yaml": "0600" });
    expect(t.files["/etc/systemd/network/10-netplan-mgmt.network.d/50-hosttune-vrf-mgmt.conf"]).toBe(
      "# Managed by hosttune (ManagementVrf).\n[Network]\nAddress=127.0.0.1/8\nAddress=::1/128\n\n" +
        "[RoutingPolicyRule]\nFamily=both\nPriority=32765\nTable=local\n",
    );
    const steps = plan(t, before, d);
    expect(steps.map((s) => s.describe)).toEqual([
      "write /etc/sysctl.d/90-hosttune-vrf-mgmt.conf",
      "write /etc/systemd/system/hosttune-vrf-mgmt-rules.service",
      "write /etc/netplan/99-hosttune-vrf-mgmt.yaml",
      "write /etc/systemd/network/10-netplan-mgmt.network.d/50-hosttune-vrf-mgmt.conf",
      "l3mdev accept tcp=1 udp=1",
      "enable hosttune-vrf-mgmt-rules.service",
      "ensure the l3mdev rule (pref 1000)",
      "netplan: create VRF mgmt (table 1000) and enslave enp0s2, up0 (netplan apply)",
      "lookup local at pref 32765 (networkd, VRF mgmt)",
      "stop and disable systemd-resolved",
      "write /etc/resolv.conf",
    ]);
    // The user's netplan file and networkd's files for the interfaces are never written.
    expect(Object.keys(t.files).filter((p) => /50-lab|10-netplan-(enp0s2|up0)\.network$/.test(p))).toEqual([]);
  });

  it("a converged host plans nothing", () => {
    const t = want(d, after);
    expect(drift(t, after)).toEqual([]);
    expect(plan(t, after, d)).toEqual([]);
  });

  it("destroy removes our files, applies netplan, deletes the VRF (netplan does not) and puts back the rules and resolver", () => {
    const steps = plan(restore(d, before, after), after, d);
    expect(steps.map((s) => s.describe)).toEqual([
      "remove /etc/sysctl.d/90-hosttune-vrf-mgmt.conf",
      "remove /etc/systemd/system/hosttune-vrf-mgmt-rules.service",
      "remove /etc/netplan/99-hosttune-vrf-mgmt.yaml",
      "remove /etc/systemd/network/10-netplan-mgmt.network.d/50-hosttune-vrf-mgmt.conf",
      "l3mdev accept tcp=0 udp=0",
      "disable hosttune-vrf-mgmt-rules.service",
      "netplan: delete VRF mgmt and give enp0s2, up0 back to the main table (netplan apply)",
      "lookup local at pref 0",
      "/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf",
      "enable and start systemd-resolved",
    ]);
    expect(text(steps[6])).toMatch(/^netplan apply\nip link del dev mgmt/);
  });
});
