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
      "wait for the routes via enp0s2, up0 in table 1000",
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
    // A netplan apply that fails (an operator's file it cannot parse) is no failure while nothing rendered makes the VRF.
    expect(text(steps[6])).toMatch(
      /^netplan apply \|\| ! \[ -e \/run\/systemd\/network\/10-netplan-mgmt\.netdev \]\nip link del dev mgmt/,
    );
  });
});

describe("ManagementVrf on NetworkManager", () => {
  // Debian 12, NetworkManager's profiles lab-enp0s2 (static) and lab-up0 (DHCP); systemd-resolved serves the host.
  const before = observe(fixture("managementVrf-nm-bookworm.txt"), d);
  const after = observe(fixture("managementVrf-nm-bookworm-converged.txt"), d);
  const DIR = "/etc/NetworkManager/system-connections";

  it("finds the operator's profile of each interface, also once our port profile is the active one", () => {
    for (const o of [before, after]) {
      expect(o.owners.enp0s2).toEqual([
        {
          manager: "NetworkManager",
          source: `${DIR}/lab-enp0s2.nmconnection`,
          content: expect.stringMatching(/^\[connection\]\nid=lab-enp0s2\nuuid=[0-9a-f-]{36}\ntype=ethernet\n/),
        },
      ]);
      expect(o.owners.up0[0].source).toBe(`${DIR}/lab-up0.nmconnection`);
    }
  });

  it("plans a vrf profile and port profiles of ours (private), copied from the operator's, and brings them up", () => {
    const t = want(d, before);
    expect(t.manager).toBe("NetworkManager");
    expect(t.files[`${DIR}/hosttune-vrf-mgmt.nmconnection`]).toBe(
      `# Managed by hosttune (ManagementVrf).
[connection]
id=hosttune-vrf-mgmt
uuid=${uuidOf("hosttune-vrf-mgmt")}
type=vrf
interface-name=mgmt

[vrf]
table=1000

[ipv4]
method=manual
address1=127.0.0.1/8
routing-rule1=priority 32765 table 255

[ipv6]
method=manual
address1=::1/128
routing-rule1=priority 32765 table 255
`,
    );
    expect(t.files[`${DIR}/hosttune-vrf-mgmt-up0.nmconnection`]).toMatch(
      new RegExp(
        "^# Managed by hosttune \\(ManagementVrf\\)\\. VRF mgmt: NetworkManager's profile for up0, .*\n.*\n" +
          `# From: ${DIR}/lab-up0\\.nmconnection\n\\[connection\\]\nid=hosttune-vrf-mgmt-up0\nuuid=${uuidOf("hosttune-vrf-mgmt-up0")}\n` +
          "master=mgmt\nslave-type=vrf\nautoconnect-priority=1\ntype=ethernet\ninterface-name=up0\n\n\\[ethernet\\]\n\n" +
          "\\[ipv4\\]\nmethod=auto\n",
      ),
    );
    // resolv.conf is ours while the VRF is: NetworkManager must not write it.
    expect(t.files["/etc/NetworkManager/conf.d/hosttune-vrf-mgmt.conf"]).toMatch(/\[main\]\nrc-manager=unmanaged\n$/);
    expect(Object.values(t.modes)).toEqual(["0600", "0600", "0600", "0755"]);
    // NetworkManager leaves the kernel's pref-0 local rule at boot: our dispatcher script deletes it.
    expect(t.files["/etc/NetworkManager/dispatcher.d/90-hosttune-vrf-mgmt"]).toMatch(
      /^#!\/bin\/sh\n.*\n.*\n\[ "\$1" = mgmt \] && \[ "\$2" = up \] \|\| exit 0\nfor f in -4 -6; do\n/,
    );
    // The operator's profiles are never written.
    expect(Object.keys(t.files).filter((p) => p.includes("/lab-"))).toEqual([]);
    const steps = plan(t, before, d);
    expect(steps.map((s) => s.describe)).toEqual([
      "write /etc/sysctl.d/90-hosttune-vrf-mgmt.conf",
      `write ${DIR}/hosttune-vrf-mgmt.nmconnection`,
      `write ${DIR}/hosttune-vrf-mgmt-enp0s2.nmconnection`,
      `write ${DIR}/hosttune-vrf-mgmt-up0.nmconnection`,
      "write /etc/NetworkManager/conf.d/hosttune-vrf-mgmt.conf",
      "write /etc/NetworkManager/dispatcher.d/90-hosttune-vrf-mgmt",
      "l3mdev accept tcp=1 udp=1",
      "ensure the l3mdev rule (pref 1000)",
      "NetworkManager: create VRF mgmt (table 1000) and enslave enp0s2, up0 (nmcli connection up)",
      "wait for the routes via enp0s2, up0 in table 1000",
      "lookup local at pref 32765",
      "stop and disable systemd-resolved",
      "write /etc/resolv.conf",
    ]);
    expect(text(steps[8])).toBe(
      "modprobe vrf\nnmcli general reload conf\nnmcli connection reload\n" +
        [`hosttune-vrf-mgmt`, "hosttune-vrf-mgmt-enp0s2", "hosttune-vrf-mgmt-up0"]
          .map((n) => `nmcli connection up uuid ${uuidOf(n)}`)
          .join("\n"),
    );
  });

  it("a converged host plans nothing", () => {
    const t = want(d, after);
    expect(drift(t, after)).toEqual([]);
    expect(plan(t, after, d)).toEqual([]);
  });

  it("destroy removes our profiles and brings the operator's up again (those it has now), by their UUID", () => {
    const uuid = (i: string) => /\nuuid=(.+)\n/.exec(after.owners[i][0].content ?? "")?.[1];
    const steps = plan(restore(d, before, after), after, d);
    expect(steps.map((s) => s.describe)).toEqual([
      "remove /etc/sysctl.d/90-hosttune-vrf-mgmt.conf",
      `remove ${DIR}/hosttune-vrf-mgmt.nmconnection`,
      `remove ${DIR}/hosttune-vrf-mgmt-enp0s2.nmconnection`,
      `remove ${DIR}/hosttune-vrf-mgmt-up0.nmconnection`,
      "remove /etc/NetworkManager/conf.d/hosttune-vrf-mgmt.conf",
      "remove /etc/NetworkManager/dispatcher.d/90-hosttune-vrf-mgmt",
      "l3mdev accept tcp=0 udp=0",
      "NetworkManager: delete VRF mgmt and bring up the operator's profiles of enp0s2, up0",
      "lookup local at pref 0",
      "/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf",
      "enable and start systemd-resolved",
    ]);
    expect(text(steps[7])).toBe(
      "nmcli general reload conf\nnmcli connection reload\nip link del dev mgmt 2>/dev/null || true\n" +
        `nmcli connection up uuid ${uuid("enp0s2")}\nnmcli connection up uuid ${uuid("up0")}`,
    );
  });

  it("a port profile drops what NetworkManager 1.46+ wrote of its own (controller, timestamp), and outranks the operator's", () => {
    const from = {
      manager: "NetworkManager" as const,
      source: `${DIR}/eth.nmconnection`,
      content:
        "# a comment\n[connection]\nid=eth\nuuid=u\ntype=ethernet\ncontroller=br0\nport-type=bridge\n" +
        "timestamp=1700000000\nautoconnect-priority=5\n\n[ipv4]\nmethod=auto\n",
    };
    const p = portProfile(d, "enp0s2", from);
    expect(p).toMatch(
      /\nmaster=mgmt\nslave-type=vrf\nautoconnect-priority=6\ntype=ethernet\n\n\[ipv4\]\nmethod=auto\n$/,
    );
    expect(p).not.toMatch(/controller|port-type|timestamp|a comment|id=eth\n|uuid=u\n/);
    expect(() => portProfile(d, "enp0s2", { ...from, content: "[connection]\nautoconnect-priority=999\n" })).toThrow(
      /autoconnect-priority 999, the highest there is/,
    );
  });
});

describe("ManagementVrf and the interfaces' routes (a DHCP lease's default route included)", () => {
  // The netplan VM's facts, with the routes fact as `ip -j route show table all dev IF` gives it.
  const withRoutes = (name: string, routes: Record<string, string>) => {
    const facts = fixture(name);
    const out = Object.entries(routes)
      .flatMap(([i, json]) => [`${i} ${json}`, `${i} []`])
      .join("\n");
    return observe({ ...facts, routes: { rc: 0, out } }, d);
  };
  const inMain =
    '[{"dst":"default","gateway":"192.0.2.1","dev":"up0","protocol":"dhcp","metric":100},' +
    '{"dst":"192.0.2.0/24","dev":"up0","protocol":"kernel"},' +
    '{"type":"local","dst":"192.0.2.64","table":"local","protocol":"kernel"}]';
  const inVrf =
    '[{"dst":"default","gateway":"192.0.2.1","dev":"up0","table":"1000","protocol":"dhcp","metric":100},' +
    '{"dst":"192.0.2.0/24","dev":"up0","table":"1000","protocol":"kernel"}]';
  const ra = '[{"dst":"default","gateway":"fe80::2","dev":"enp0s2","protocol":"ra","metric":1024}]';

  it("reads each interface's routes and tables (main where ip names none), leaving out router advertisements'", () => {
    expect(withRoutes("managementVrf-netplan-trixie.txt", { up0: inMain, enp0s2: ra }).routes).toEqual([
      { dev: "up0", dst: "default", table: "main" },
      { dev: "up0", dst: "192.0.2.0/24", table: "main" },
      { dev: "up0", dst: "192.0.2.64", table: "local" },
    ]);
  });

  it("a change waits for the default routes the interfaces had, in the VRF's table; its verify fails without them", () => {
    const before = withRoutes("managementVrf-netplan-trixie.txt", { up0: inMain });
    const t = want(d, before);
    expect(t.routes).toEqual({ table: "1000", defaults: ["up0"] });
    const steps = plan(t, before, d);
    const wait = steps.find((s) => s.describe.startsWith("wait for the routes"))!;
    expect(steps.indexOf(wait)).toBe(steps.findIndex((s) => s.describe.startsWith("netplan: create VRF")) + 1);
    expect(text(wait)).toContain("for i in up0; do routes 1000 default dev");
    expect(text(wait)).toContain("left in the main table");
    // The VRF in place, the lease's default route lost (networkd removed it as the VRF took up0):
    const lost = withRoutes("managementVrf-netplan-trixie-converged.txt", {
      up0: '[{"dst":"192.0.2.0/24","dev":"up0","table":"1000","protocol":"kernel"}]',
    });
    expect(drift(t, lost)).toContainEqual({ field: "default routes in table 1000", asked: ["up0"], got: [] });
    expect(drift(t, withRoutes("managementVrf-netplan-trixie-converged.txt", { up0: inVrf }))).toEqual([]);
  });

  it("routes left in the main table by the manager are drift, and up asks the manager again", () => {
    const stray = withRoutes("managementVrf-netplan-trixie-converged.txt", {
      up0: '[{"dst":"default","gateway":"192.0.2.1","dev":"up0","protocol":"dhcp"}]',
    });
    const t = want(d, stray);
    expect(drift(t, stray)).toContainEqual({
      field: "routes via the VRF's interfaces in the main table",
      asked: [],
      got: ["default dev up0"],
    });
    expect(plan(t, stray, d).map((s) => s.describe)).toEqual([
      "netplan: create VRF mgmt (table 1000) and enslave enp0s2, up0 (netplan apply)",
      "wait for the routes via enp0s2, up0 in table 1000 (default via up0)",
    ]);
  });

  it("destroy waits for the default routes the host had before, back in the main table", () => {
    const recorded = withRoutes("managementVrf-netplan-trixie.txt", { up0: inMain });
    const current = withRoutes("managementVrf-netplan-trixie-converged.txt", { up0: inVrf });
    const t = restore(d, recorded, current);
    expect(t.routes).toEqual({ table: "main", defaults: ["up0"] });
    const steps = plan(t, current, d).map((s) => s.describe);
    expect(steps.indexOf("wait for the routes via enp0s2, up0 in the main table (default via up0)")).toBe(
      steps.findIndex((s) => s.startsWith("netplan: delete VRF")) + 1,
    );
  });
});
