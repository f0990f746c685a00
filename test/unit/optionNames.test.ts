// Names reach command lines as arguments: one that starts with '-' must fail `check`, and the
// commands put names where no option parser looks (after `--`, or after ip's `dev`).
import { describe, expect, it } from "vitest";
import { connectionSchema } from "../../providers/core/connection";
import { plan as vrfPlan } from "../../providers/managementVrf/plan";
import { probeFacts as vrfFacts } from "../../providers/managementVrf/probe";
import { managementVrfSchema } from "../../providers/managementVrf/schema";
import { provider } from "../../providers/registry";
import { plan as unitPlan } from "../../providers/vrfBoundSystemdUnit/plan";
import { probeFacts as unitFacts } from "../../providers/vrfBoundSystemdUnit/probe";
import { vrfBoundSystemdUnitSchema } from "../../providers/vrfBoundSystemdUnit/schema";

const connection = { host: "127.0.0.1", privateKey: "k" };
const settings = { "rx-usecs": 8 };

describe("a leading '-' in a name", () => {
  it.each([
    ["DefaultQdisc", { qdisc: "fq", reapplyTo: "-x*" }, "desired.reapplyTo"],
    ["BfqScheduler", { match: "-sd*" }, "desired.match"],
    ["NicCoalescing", { interface: "-H", settings }, "desired.interface"],
    ["NicCoalescing", { match: "-e*", settings }, "desired.match"],
    ["NicCoalescing", { driver: "-virtio_net", settings }, "desired.driver"],
    ["ManagementVrf", { name: "-mgmt", interfaces: ["eth0"] }, "desired.name"],
    ["ManagementVrf", { interfaces: ["-eth0"] }, "desired.interfaces.0"],
    ["VrfBoundSystemdUnit", { unit: "-Hroot@elsewhere.service", vrf: "mgmt" }, "desired.unit"],
    ["VrfBoundSystemdUnit", { unit: "ssh.service", vrf: "-mgmt" }, "desired.vrf"],
    ["UdevRule", { fileName: "90-x.rules", content: "x", trigger: { sysname: "-x*" } }, "desired.trigger.sysname"],
    ["UdevRule", { fileName: "90-x.rules", content: "x", trigger: { subsystem: "-net" } }, "desired.trigger.subsystem"],
  ])("%s %j fails check at %s", async (kind, desired, property) => {
    const r = await provider(kind).check({} as never, { connection, desired });
    expect(r.failures).toContainEqual({ property, reason: expect.stringMatching(/must not start with '-'/) });
  });

  it("is refused in connection.host", () => {
    const r = connectionSchema.safeParse({ ...connection, host: "-oProxyCommand" });
    expect(r.error?.issues.map((i) => i.message)).toContainEqual(expect.stringMatching(/must not start with '-'/));
  });
});

describe("names on command lines", () => {
  it("VrfBoundSystemdUnit passes the unit after --", () => {
    const d = vrfBoundSystemdUnitSchema.parse({ unit: "ssh.service", vrf: "mgmt" });
    const f = unitFacts(d);
    expect(f.show.text).toMatch(/ -- ssh\.service$/);
    expect(f.cat.text).toContain("systemctl cat -- ssh.service");
    expect(f.pidVrf.text).toContain("--value -- ssh.service");
    expect(f.vrf.text).toContain("dev mgmt");
    const o = {
      ip: "/usr/bin/ip",
      activeState: "active",
      user: "root",
      execStart: [],
      mainPid: 1,
      pidVrf: "",
      servesUs: false,
      dropIn: null,
    };
    expect(unitPlan({ dropIn: null, pidVrf: "mgmt" }, o, d).map((s) => ("run" in s ? s.run.text : ""))).toContain(
      "systemctl restart -- ssh.service",
    );
  });

  it("ManagementVrf passes interfaces after -- and the VRF after dev", () => {
    const d = managementVrfSchema.parse({ interfaces: ["enp0s2"] });
    expect(vrfFacts(d).networkFiles.text).toContain("networkctl status -- enp0s2");
    expect(vrfFacts(d).link.text).toContain("link show dev mgmt");
    const runs = vrfPlan({ ...restoreNothing, link: null }, undefined, d).map((s) => ("run" in s ? s.run.text : ""));
    expect(runs.join("\n")).toContain("ip link del dev mgmt");
    expect(runs.join("\n")).toContain("networkctl reconfigure -- enp0s2");
    const ifupdown = vrfPlan({ ...restoreNothing, manager: "ifupdown", link: null }, undefined, d)
      .map((s) => ("run" in s ? s.run.text : ""))
      .join("\n");
    expect(ifupdown).toContain(`ifdown --force -- "$i"`);
    // The DHCP client ifup starts must not inherit the host lock's descriptor.
    expect(ifupdown).toContain(`ifup -- "$i" 9>&-`);
  });
});

const restoreNothing = {
  manager: "networkd" as const,
  files: {},
  modes: {},
  host: { owners: {}, dhcpClients: [] },
  sysctl: { tcp: "0", udp: "0" },
  routes: { table: "main", defaults: [] },
  localRule: { pref: 0 as const, byManager: false },
  rulesUnitEnabled: false,
  resolver: null,
};
