// VrfBoundSystemdUnit: effective ExecStart over fragment and drop-ins, wrapping with every
// prefix, the drop-in, and the planner; the probe fixture is `systemctl cat/show` of a lab VM.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { factScript, parseFacts } from "../../providers/core/facts";
import { rollbackScript } from "../../providers/core/steps";
import { effectiveExecStart, splitPrefixes, wrapExecStart } from "../../providers/vrfBoundSystemdUnit/execStart";
import { drift, plan, renderDropIn, restore, rollback, want } from "../../providers/vrfBoundSystemdUnit/plan";
import { observe, probeFacts } from "../../providers/vrfBoundSystemdUnit/probe";
import { vrfBoundSystemdUnitSchema } from "../../providers/vrfBoundSystemdUnit/schema";
import { vrfBoundSystemdUnitSpec } from "../../providers/vrfBoundSystemdUnit/spec";

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
      "# Managed by hosttune (VrfBoundSystemdUnit): runs hosttune-e2e-sleeper.service inside VRF e2evrf.\n" +
        "[Unit]\nWants=sys-subsystem-net-devices-e2evrf.device\n" +
        "After=sys-subsystem-net-devices-e2evrf.device\n\n[Service]\nExecStart=\nExecStart=-/usr/sbin/ip vrf exec e2evrf /bin/sleep infinity\n",
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

/** A PATH with a `systemctl` that logs its arguments to DIR/systemctl.log and says MainPID=$MAINPID. */
function fakeSystemctl(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), "hosttune-unit-"));
  mkdirSync(join(dir, "bin"));
  writeFileSync(
    join(dir, "bin", "systemctl"),
    `#!/bin/sh\necho "$*" >> ${dir}/systemctl.log\n[ "$1" = show ] && echo "$MAINPID"\ntrue\n`,
    { mode: 0o755 },
  );
  return { dir, env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` } };
}

describe("VrfBoundSystemdUnit restarting the unit that serves our SSH connection", () => {
  const d = vrfBoundSystemdUnitSchema.parse({ unit: "hosttune-e2e-sleeper.service", vrf: "e2evrf" });
  const o = observe(
    parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", "vrfBoundSystemdUnit.txt"), "utf8")),
    d,
  );
  const cc = vrfBoundSystemdUnitSpec.commitConfirmed!;

  it("is commit-confirmed: when the unit serves us, or is sshd by name, and restarts now", () => {
    expect(o.servesUs).toBe(false);
    expect(cc.when!(d, o)).toBe(false);
    expect(cc.when!(d, { ...o, servesUs: true })).toBe(true);
    expect(cc.when!({ ...d, restart: "onNextStart" }, { ...o, servesUs: true })).toBe(false);
    expect(cc.when!(d, { ...o, servesUs: true, activeState: "inactive" })).toBe(false);
    expect(cc.when!({ ...d, unit: "ssh.service" }, o)).toBe(true);
    expect(cc.timeoutSeconds(d)).toBe(90);
  });

  it("the probe finds the unit's main process among its shell's ancestors", async () => {
    const { env } = fakeSystemctl();
    const servesUs = (mainPid: number) =>
      parseFacts(
        execFileSync("sh", ["-c", factScript(probeFacts(d)).text], {
          encoding: "utf8",
          env: { ...env, MAINPID: String(mainPid) },
        }),
      ).servesUs.out.trim();
    // This test process is the probe shell's parent; a sibling is no ancestor.
    expect(servesUs(process.pid)).toBe("yes");
    const sibling = spawn("sleep", ["30"]);
    try {
      expect(servesUs(sibling.pid!)).toBe("no");
    } finally {
      sibling.kill();
    }
    expect(servesUs(0)).toBe("no");
  });

  it("the host's rollback puts the drop-in back as it was, reloads and restarts the unit (real shell)", () => {
    for (const before of [null, "[Service]\nExecStart=\nExecStart=/usr/bin/ip vrf exec old /bin/sleep infinity\n"]) {
      const { dir, env } = fakeSystemctl();
      const etc = join(dir, "etc");
      const dropIn = join(etc, "hosttune-e2e-sleeper.service.d", "50-hosttune-vrf.conf");
      mkdirSync(join(etc, "hosttune-e2e-sleeper.service.d"), { recursive: true });
      writeFileSync(dropIn, renderDropIn(d, o));
      const script = rollbackScript(rollback(d, { ...o, dropIn: before }), dir)
        .text.replaceAll("/etc/systemd/system", etc)
        .replaceAll("/run/hosttune", join(dir, "run"));
      execFileSync("sh", ["-c", script], { env });
      expect(existsSync(dropIn) ? readFileSync(dropIn, "utf8") : null).toBe(before);
      expect(readFileSync(join(dir, "systemctl.log"), "utf8")).toBe(
        "daemon-reload\nrestart -- hosttune-e2e-sleeper.service\n",
      );
    }
  });
});
