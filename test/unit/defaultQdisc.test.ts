// DefaultQdisc's parsers and planner, on probe outputs captured from the lab VMs
// (test/fixtures/capture.ts): a fresh host with a later sysctl.d file overriding the key and
// up taps, and a converged host with a multiqueue tap.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFacts } from "../../providers/core/facts";
import { drift, plan, renderFile, restore, want } from "../../providers/defaultQdisc/plan";
import { effectiveSysctl, observe } from "../../providers/defaultQdisc/probe";
import { defaultQdiscSchema } from "../../providers/defaultQdisc/schema";

const fixture = (name: string) => parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", name), "utf8"));
const desired = defaultQdiscSchema.parse({ qdisc: "noqueue", reapplyTo: "tap*" });

describe("DefaultQdisc probe", () => {
  it("parses a fresh lab host", () => {
    expect(observe(fixture("defaultQdisc-fresh.txt"), desired)).toEqual({
      runtime: "fq_codel",
      file: null,
      persisted: { value: "fq", from: "/etc/sysctl.d/99-late.conf" },
      devices: { tap0: "fq_codel" },
    });
  });

  it("parses a converged lab host, including a multiqueue tap (mq root)", () => {
    const o = observe(fixture("defaultQdisc-converged.txt"), desired);
    expect(o.runtime).toBe("noqueue");
    expect(o.file).toBe(renderFile("noqueue"));
    expect(o.persisted).toEqual({ value: "noqueue", from: "/etc/sysctl.d/90-hosttune-default-qdisc.conf" });
    expect(o.devices.tap0).toBe("noqueue");
    expect(Object.keys(o.devices).sort()).toEqual(["tap0", "tap2"]);
  });

  it("fails clearly when the kernel lacks the qdisc", () => {
    const facts = fixture("defaultQdisc-fresh.txt");
    facts.available = { rc: 1, out: "modinfo: ERROR: Module sch_cake not found.\n" };
    expect(() => observe(facts, { ...desired, qdisc: "cake" })).toThrow(/kernel has no qdisc 'cake'.*sch_cake/);
  });

  it("computes the value applied at boot like systemd-sysctl", () => {
    const grep = [
      "/usr/lib/sysctl.d/50-default.conf:net.core.default_qdisc = fq_codel",
      "/etc/sysctl.d/50-default.conf:net.core.default_qdisc = pfifo_fast", // same name: /etc wins
      "/run/sysctl.d/50-default.conf:net.core.default_qdisc = cake",
      "/etc/sysctl.d/40-early.conf:net/core/default_qdisc=fq",
    ].join("\n");
    expect(effectiveSysctl(grep)).toEqual({ value: "pfifo_fast", from: "/etc/sysctl.d/50-default.conf" });
    expect(effectiveSysctl("")).toEqual({ value: null, from: null });
  });
});

describe("DefaultQdisc planner", () => {
  const fresh = observe(fixture("defaultQdisc-fresh.txt"), desired);
  const converged = observe(fixture("defaultQdisc-converged.txt"), desired);

  it("plans file, runtime and per-device steps for a fresh host", () => {
    const steps = plan(want(desired, fresh), fresh, desired);
    expect(steps.map((s) => s.describe)).toEqual([
      "write /etc/sysctl.d/90-hosttune-default-qdisc.conf",
      "sysctl -w net.core.default_qdisc=noqueue",
      "re-attach the default qdisc (noqueue) on tap0",
    ]);
    expect(steps[1]).toMatchObject({ run: { text: "sysctl -q -w net.core.default_qdisc=noqueue" } });
  });

  it("plans nothing for a converged host and reports no drift", () => {
    expect(plan(want(desired, converged), converged, desired)).toEqual([]);
    expect(drift(want(desired, converged), converged)).toEqual([]);
  });

  it("reports a later file that overrides ours at boot, naming it", () => {
    const o = { ...converged, persisted: { value: "fq", from: "/etc/sysctl.d/99-late.conf" } };
    const d = drift(want(desired, o), o);
    expect(d).toHaveLength(1);
    expect(d[0].field).toMatch(/99-late\.conf/);
  });

  it("restores the recorded runtime value and removes the file it did not find", () => {
    const t = restore(desired, fresh, converged);
    expect(t).toMatchObject({ runtime: "fq_codel", file: null, devices: { tap0: "fq_codel" } });
    expect(plan(t, converged, desired).map((s) => s.describe)).toEqual([
      "remove /etc/sysctl.d/90-hosttune-default-qdisc.conf",
      "sysctl -w net.core.default_qdisc=fq_codel",
      "re-attach the default qdisc (fq_codel) on tap0",
    ]);
  });

  it("restores a file that existed before create", () => {
    const before = { ...fresh, file: "net.core.default_qdisc = fq\n" };
    const steps = plan(restore(desired, before, converged), converged, desired);
    expect(steps[0]).toMatchObject({
      writeFile: { path: "/etc/sysctl.d/90-hosttune-default-qdisc.conf", content: "net.core.default_qdisc = fq\n" },
    });
  });
});
