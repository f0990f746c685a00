// NicCoalescing's parsers and planner. nicCoalescing-text.txt was captured from a lab VM
// (bookworm, ethtool 6.1: text output; netdevsim x3 with eni1np1 pre-set, virtio_net, e1000e).
// json-ethtool-6.14.txt is written from ethtool 6.14's print code (its header says how; the lab
// has no newer ethtool): netdevsim, e1000e, and e100 whose driver has no coalescing at all.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFacts } from "../../providers/core/facts";
import { drift, plan, renderRule, restore, want } from "../../providers/nicCoalescing/plan";
import { observe, parseCoalesceJson, parseCoalesceText } from "../../providers/nicCoalescing/probe";
import { ALL_PARAMS, nicCoalescingSchema } from "../../providers/nicCoalescing/schema";

const fixture = (name: string) => parseFacts(readFileSync(join(__dirname, "..", "fixtures", name), "utf8"));
const lab = () => fixture("lab/nicCoalescing-text.txt");
const json614 = () => fixture("json-ethtool-6.14.txt");
const desired = (x: unknown) => nicCoalescingSchema.parse(x);

describe("NicCoalescing probe", () => {
  it("parses ethtool 6.1 text: values, n/a, the singular frame-low/high keys, adaptive and CQE pairs", () => {
    const o = observe(lab(), desired({ driver: "netdevsim", settings: { "rx-usecs": 50 } }));
    expect(o.ethtool).toBe("/usr/sbin/ethtool");
    expect(Object.keys(o.nics)).toEqual(["eni1np1", "eni2np1", "eni3np1"]);
    expect(o.nics.eni1np1).toMatchObject({
      driver: "netdevsim",
      values: {
        "rx-usecs": 25,
        "tx-frames": 7,
        "adaptive-rx": true,
        "adaptive-tx": false,
        "cqe-mode-rx": false,
        "rx-frames-low": 0,
      },
    });
    expect(Object.keys(o.nics.eni1np1.values)).toHaveLength(24); // 20 numeric + adaptive and CQE pairs
    expect(o.rule).toBeNull();
  });

  it("selects by glob, exact name and driver", () => {
    expect(Object.keys(observe(lab(), desired({ match: "enp0s[2]", settings: { "rx-frames": 1 } })).nics)).toEqual([
      "enp0s2",
    ]);
    expect(Object.keys(observe(lab(), desired({ interface: "enp0s3", settings: { "rx-usecs": 50 } })).nics)).toEqual([
      "enp0s3",
    ]);
    expect(
      Object.keys(
        observe(lab(), desired({ match: "eni[12]*", driver: "netdevsim", settings: { "rx-usecs": 5 } })).nics,
      ),
    ).toEqual(["eni1np1", "eni2np1"]);
  });

  it("refuses a parameter the driver does not support, naming interface, driver and parameter", () => {
    expect(() => observe(lab(), desired({ interface: "enp0s3", settings: { "tx-usecs": 150 } }))).toThrow(
      /enp0s3 \(driver e1000e\) does not support coalescing parameter tx-usecs/,
    );
  });

  it("refuses a parameter this host's ethtool does not know", () => {
    expect(() => observe(lab(), desired({ driver: "netdevsim", settings: { "tx-aggr-max-bytes": 4096 } }))).toThrow(
      /ethtool version 6\.1 does not know coalescing parameter tx-aggr-max-bytes/,
    );
  });

  it("refuses a missing interface, listing the NICs there", () => {
    expect(() => observe(lab(), desired({ interface: "eth9", settings: { "rx-usecs": 1 } }))).toThrow(
      /eth9 does not exist \(NICs here: eni1np1, eni2np1, eni3np1, enp0s2, enp0s3\)/,
    );
  });

  it("parses ethtool 6.14 --json -c: values, a parameter left out is unsupported, a driver without coalescing", () => {
    const o = observe(json614(), desired({ driver: "netdevsim", settings: { "rx-usecs": 25 } }));
    expect(o.nics.eni1np1.values).toMatchObject({
      "adaptive-rx": true,
      "adaptive-tx": false,
      "rx-usecs": 25,
      "tx-frames": 7,
      "cqe-mode-rx": false,
      "tx-aggr-time-usecs": 0,
    });
    expect(
      observe(json614(), desired({ interface: "enp0s3", settings: { "rx-usecs": 50 } })).nics.enp0s3.values,
    ).toMatchObject({
      "rx-usecs": 50,
      "tx-usecs": null,
      "adaptive-rx": null,
    });
    expect(() => observe(json614(), desired({ match: "enp0s*", settings: { "rx-usecs": 50 } }))).toThrow(
      /ethtool -c enp0s4 \(driver e100\) failed: netlink error: Operation not supported$/,
    );
  });

  it("maps ethtool 6.14 JSON's rx-frame-low/-high to rx-frames-low/-high (issue 11: rx-frames-low 8 on netdevsim)", () => {
    const d = desired({ driver: "netdevsim", settings: { "rx-frames-low": 8 } });
    const o = observe(json614(), d);
    expect(o.nics.eni1np1.values).toMatchObject({
      "rx-frames-low": 8,
      "tx-frames-low": 0,
      "rx-frames-high": 0,
      "tx-frames-high": 0,
    });
    // netdevsim reports every parameter: each one maps, none is left null.
    expect(Object.keys(o.nics.eni1np1.values).sort()).toEqual([...ALL_PARAMS].sort());
    expect(Object.values(o.nics.eni1np1.values)).not.toContain(null);
    expect(plan(want(d, o), o, d).filter((s) => s.describe.startsWith("ethtool -C"))).toEqual([]);
  });

  it("reads ethtool 6.2-6.13 JSON, whose two boolean pairs are both keyed rx/tx", () => {
    // As quoted in ethtool commit c62310eb, the 6.14 fix: the adaptive pair, the numbers, the CQE pair.
    const mlx5 = `[ {
        "ifname": "eth0",
        "rx": false,
        "tx": false,
        "rx-usecs": 33,
        "rx-frames": 88,
        "tx-usecs": 158,
        "tx-frames": 128,
        "rx": true,
        "tx": false
    } ]`;
    expect(parseCoalesceJson(mlx5)).toMatchObject({
      "adaptive-rx": false,
      "adaptive-tx": false,
      "rx-usecs": 33,
      "tx-frames": 128,
      "cqe-mode-rx": true,
      "cqe-mode-tx": false,
      "rx-frames-low": null,
    });
    // A driver with CQE mode but no adaptive coalescing prints only the pair after the numbers.
    expect(
      parseCoalesceJson('[ {\n  "ifname": "x",\n  "rx-usecs": 3,\n  "rx": true,\n  "tx": false\n} ]'),
    ).toMatchObject({
      "adaptive-rx": null,
      "cqe-mode-rx": true,
      "cqe-mode-tx": false,
    });
  });

  it("maps text lines only to known parameters", () => {
    expect(parseCoalesceText("Coalesce parameters for x:\nrx-usecs: 3\nfoo: 1\nrx-frame-high: n/a\n")).toEqual({
      "rx-usecs": 3,
      "rx-frames-high": null,
    });
    // ethtool 6.2+ separates with tabs; 6.3-6.8 printed tx-aggr-time-usecs without its colon.
    expect(parseCoalesceText("tx-aggr-max-bytes:\t0\ntx-aggr-time-usecs\t16\n")).toEqual({
      "tx-aggr-max-bytes": 0,
      "tx-aggr-time-usecs": 16,
    });
  });
});

describe("NicCoalescing schema", () => {
  it.each([
    [{ settings: { "rx-usecs": 1 } }, /needs interface, match or driver/],
    [{ interface: "eth0", match: "eth*", settings: { "rx-usecs": 1 } }, /either interface or match/],
    [{ interface: "eth0", settings: {} }, /at least one/],
    [{ interface: "eth0", settings: { "rx-usecs": -1 } }, />= 0/],
    [{ interface: "eth0", settings: { "rx-usecs": 1.5 } }, /integer/],
    [{ interface: "eth0", settings: { "adaptive-rx": "on" } }, /true or false/],
    [{ interface: "eth0", settings: { "rx-usec": 1 } }, /Unrecognized key/],
    [{ interface: "eth0; reboot", settings: { "rx-usecs": 1 } }, /interface name/],
    [{ interface: "this-name-is-too-long", settings: { "rx-usecs": 1 } }, /interface name/],
    [{ driver: "e1000e$(id)", settings: { "rx-usecs": 1 } }, /driver name/],
  ])("rejects %j", (input, message) => {
    const r = nicCoalescingSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join("; ")).toMatch(message);
  });

  it("derives a rule file that sorts after 80-net-setup-link.rules", () => {
    expect(desired({ match: "eni*", driver: "netdevsim", settings: { "rx-usecs": 1 } }).ruleFile).toBe(
      "85-hosttune-coalesce-eni_-netdevsim.rules",
    );
  });
});

describe("NicCoalescing planner", () => {
  const d = desired({ driver: "netdevsim", settings: { "rx-usecs": 50, "adaptive-rx": false, "cqe-mode-rx": true } });
  const before = observe(lab(), d);

  it("plans one ethtool -C per NIC with only the differing parameters, then the rule and a reload", () => {
    const steps = plan(want(d, before), before, d);
    expect(steps.map((s) => s.describe)).toEqual([
      "ethtool -C eni1np1 adaptive-rx off cqe-mode-rx on rx-usecs 50 (driver netdevsim)",
      "ethtool -C eni2np1 cqe-mode-rx on rx-usecs 50 (driver netdevsim)",
      "ethtool -C eni3np1 cqe-mode-rx on rx-usecs 50 (driver netdevsim)",
      "write /etc/udev/rules.d/85-hosttune-coalesce-netdevsim.rules",
      "udevadm control --reload",
    ]);
  });

  it("renders a udev rule that matches the final name in sh and runs ethtool with the managed values", () => {
    expect(renderRule(d, "/usr/sbin/ethtool").split("\n").at(-2)).toBe(
      `ACTION=="add", SUBSYSTEM=="net", DRIVERS=="netdevsim", ` +
        `RUN+="/bin/sh -c 'case $$1 in *) exec /usr/sbin/ethtool -C $$1 adaptive-rx off cqe-mode-rx on rx-usecs 50 ;; esac' hosttune-coalesce $name"`,
    );
  });

  it("reports a value the driver accepted but did not keep, with asked vs got and the driver", () => {
    const t = want(d, before);
    const after = structuredClone(before);
    for (const nic of Object.values(after.nics))
      Object.assign(nic.values, { "rx-usecs": 50, "adaptive-rx": false, "cqe-mode-rx": false });
    after.rule = t.rule;
    expect(drift(t, after)).toEqual(
      ["eni1np1", "eni2np1", "eni3np1"].map((n) => ({
        field: `${n} (driver netdevsim) cqe-mode-rx`,
        asked: true,
        got: false,
      })),
    );
  });

  it("restores the recorded values of the managed parameters only, and removes the rule it did not find", () => {
    const t = restore(d, before, before);
    expect(t.nics.eni1np1).toEqual({ "adaptive-rx": true, "cqe-mode-rx": false, "rx-usecs": 25 });
    expect(t.rule).toBeNull();
  });
});
