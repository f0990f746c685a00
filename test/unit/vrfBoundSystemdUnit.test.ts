// VrfBoundSystemdUnit: effective ExecStart over fragment and drop-ins, wrapping with every
// prefix, the drop-in, and the planner; the probe fixture is `systemctl cat/show` of a lab VM.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFacts } from "../../providers/core/facts";
import { effectiveExecStart, splitPrefixes, wrapExecStart } from "../../providers/vrfBoundSystemdUnit/execStart";
import { drift, plan, renderDropIn, restore, want } from "../../providers/vrfBoundSystemdUnit/plan";
import { observe } from "../../providers/vrfBoundSystemdUnit/probe";
import { vrfBoundSystemdUnitSchema } from "../../providers/vrfBoundSystemdUnit/schema";

const OURS = "/etc/systemd/system/web.service.d/50-hosttune-vrf.conf";
const CAT = `# /lib/systemd/system/web.service
[Unit]
Description=web
ExecStart=/not/in/service/section

[Service]
ExecStartPre=/usr/bin/true
ExecStart=/usr/bin/web --a
ExecStart=-/usr/bin/web --b

# /etc/systemd/system/web.service.d/10-local.conf
[Service]
ExecStart=
ExecStart=@/usr/bin/web web-main --c
ExecStart=:/usr/bin/web $NOT_EXPANDED

# ${OURS}
[Service]
ExecStart=
ExecStart=/usr/bin/ip vrf exec mgmt /usr/bin/web --c
`;

describe("ExecStart", () => {
  it("follows systemd: later files add lines, an empty ExecStart= resets; our drop-in is ignored", () => {
    expect(effectiveExecStart(CAT, OURS)).toEqual(["@/usr/bin/web web-main --c", ":/usr/bin/web $NOT_EXPANDED"]);
    expect(effectiveExecStart(CAT.split("# /etc/systemd/system/web.service.d/10-local.conf")[0], OURS)).toEqual([
      "/usr/bin/web --a",
      "-/usr/bin/web --b",
    ]);
  });

  it.each([
    ["/usr/sbin/sshd -D", "/usr/bin/ip vrf exec mgmt /usr/sbin/sshd -D"],
    ["-/usr/bin/dockerd -H fd://", "-/usr/bin/ip vrf exec mgmt /usr/bin/dockerd -H fd://"],
    ["@/usr/bin/web web-main --c", "/usr/bin/ip vrf exec mgmt /usr/bin/web --c"],
    ["-@/usr/bin/web argv0", "-/usr/bin/ip vrf exec mgmt /usr/bin/web"],
    [":/usr/bin/web $X", ":/usr/bin/ip vrf exec mgmt /usr/bin/web $X"],
    ["+/usr/bin/web", "+/usr/bin/ip vrf exec mgmt /usr/bin/web"],
    ["!!/usr/bin/web", "!!/usr/bin/ip vrf exec mgmt /usr/bin/web"],
    ["!/usr/bin/web", "!/usr/bin/ip vrf exec mgmt /usr/bin/web"],
  ])("wraps %s", (line, wrapped) => {
    expect(wrapExecStart(line, "/usr/bin/ip", "mgmt")).toBe(wrapped);
  });

  it("splits prefixes", () => {
    expect(splitPrefixes("-@/bin/x a")).toEqual({ prefixes: "-@", command: "/bin/x a" });
  });
});

describe("VrfBoundSystemdUnit schema", () => {
  it.each([
    [{ unit: "vrf-agent.service", vrf: "mgmt" }, /must not start with 'vrf'/],
    [{ unit: "ssh", vrf: "mgmt" }, /\.service/],
    [{ unit: "ssh.service; reboot", vrf: "mgmt" }, /\.service/],
    [{ unit: "ssh.service", vrf: "mgmt/x" }, /interface name/],
    [{ unit: "ssh.service", vrf: "mgmt", restart: "later" }, /now|onNextStart/],
  ])("rejects %j", (input, message) => {
    const r = vrfBoundSystemdUnitSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join("; ")).toMatch(message);
  });
});

describe("VrfBoundSystemdUnit probe and planner", () => {
  const d = vrfBoundSystemdUnitSchema.parse({ unit: "hosttune-e2e-sleeper.service", vrf: "e2evrf" });
  const facts = parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", "vrfBoundSystemdUnit.txt"), "utf8"));

  it("parses a running lab unit in the default VRF", () => {
    const o = observe(facts, d);
    expect(o).toMatchObject({
      ip: "/usr/sbin/ip",
      activeState: "active",
      user: "root",
      execStart: ["-/bin/sleep infinity"],
      pidVrf: "",
      dropIn: null,
    });
    expect(o.mainPid).toBeGreaterThan(0);
  });

  it("plans drop-in, daemon-reload and restart; the drop-in waits for the VRF device", () => {
    const o = observe(facts, d);
    const t = want(d, o);
    expect(renderDropIn(d, o)).toBe(
      "# Managed by hosttune (VrfBoundSystemdUnit): runs hosttune-e2e-sleeper.service inside VRF e2evrf.\n[Unit]\nWants=sys-subsystem-net-devices-e2evrf.device\nAfter=sys-subsystem-net-devices-e2evrf.device\n\n[Service]\nExecStart=\nExecStart=-/usr/sbin/ip vrf exec e2evrf /bin/sleep infinity\n",
    );
    expect(plan(t, o, d).map((s) => s.describe)).toEqual([
      "write /etc/systemd/system/hosttune-e2e-sleeper.service.d/50-hosttune-vrf.conf",
      "systemctl daemon-reload",
      "systemctl restart hosttune-e2e-sleeper.service",
    ]);
    expect(drift(t, { ...o, dropIn: t.dropIn, pidVrf: "e2evrf" })).toEqual([]);
    expect(drift(t, { ...o, dropIn: t.dropIn })[0]).toMatchObject({ asked: "e2evrf", got: "default" });
  });

  it("does not restart with onNextStart, and restore removes the drop-in", () => {
    const o = observe(facts, d);
    const later = { ...d, restart: "onNextStart" as const };
    expect(plan(want(later, o), o, later).map((s) => s.describe)).not.toContain(
      "systemctl restart hosttune-e2e-sleeper.service",
    );
    const converged = { ...o, dropIn: want(d, o).dropIn, pidVrf: "e2evrf" };
    expect(restore(d, o, converged)).toEqual({ dropIn: null, pidVrf: "" });
  });

  it("a missing VRF is a clear error", () => {
    const f = { ...facts, vrf: { rc: 1, out: 'Device "e2evrf" does not exist.\n' } };
    expect(() => observe(f, d)).toThrow(/VRF e2evrf does not exist/);
  });
});
