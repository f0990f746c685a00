import { describe, expect, it } from "vitest";
import { resourceStates } from "../../report/collect";
import { parseArgs } from "../../report/cli";
import { renderReport } from "../../report/html";
import type { FleetReport } from "../../report/model";
import { Progress } from "../../report/progress";

describe("hosttune report's arguments", () => {
  it("defaults: a 10 s window, no stolen-CPU run, the page under .hosttune/report/<stack>", () => {
    expect(parseArgs(["--stack", "lab"])).toEqual({
      stack: "lab",
      out: ".hosttune/report/lab",
      window: 10,
      stolenCpu: undefined,
      stolenSeconds: 10,
    });
    expect(parseArgs(["--stack=lab", "--window=3", "--stolen-cpu", "1", "--out", "/tmp/r"])).toMatchObject({
      window: 3,
      stolenCpu: 1,
      out: "/tmp/r",
    });
  });

  it("bad input: every problem at once, with the usage, before anything runs", () => {
    let message = "";
    try {
      parseArgs(["--window", "0", "--stolen-cpu", "x", "--bogus"]);
    } catch (e) {
      message = (e as Error).message;
    }
    for (const problem of [
      'unknown argument "--bogus"',
      "--window must be 1-600 seconds, not 0",
      "--stack is required",
      "--stolen-cpu must be a CPU number, not x",
      "usage: hosttune report --stack ENV",
    ])
      expect(message).toContain(problem);
    expect(() => parseArgs(["--stack", "-rf"])).toThrow(/--stack -rf: not a stack name/);
    expect(() => parseArgs(["--stack"])).toThrow(/--stack needs a value/);
    expect(() => parseArgs(["--stack", "a b"])).toThrow(/--stack a b: not a stack name/);
  });
});

describe("resource states from a plain preview", () => {
  const urn = (kind: string, name: string) =>
    `urn:pulumi:lab::hosttune::hosttune:index:HostTuning$pulumi-nodejs:dynamic/hosttune:${kind}::${name}`;

  it("in sync, drifted with asked vs got, by host (the longest host name wins)", () => {
    const steps = [
      { op: "same", urn: "urn:pulumi:lab::hosttune::pulumi:pulumi:Stack::hosttune-lab" },
      { op: "same", urn: urn("DefaultQdisc", "vm1-default-qdisc") },
      {
        op: "update",
        urn: urn("NicCoalescing", "vm1-nic-enp0s3"),
        oldState: { outputs: { drift: ["enp0s3.rx-usecs: asked 100, got 3"] } },
      },
      { op: "same", urn: urn("UdevRule", "vm1-a-udev-90-tap.rules") },
      { op: "create", urn: urn("UdevRule", "vm2-udev-90-tap.rules") },
    ];
    expect(resourceStates(["vm1", "vm1-a", "vm2"], steps)).toEqual({
      vm1: [
        { name: "vm1-default-qdisc", kind: "DefaultQdisc", state: "in-sync", drift: [] },
        {
          name: "vm1-nic-enp0s3",
          kind: "NicCoalescing",
          state: "drifted",
          drift: ["enp0s3.rx-usecs: asked 100, got 3"],
        },
      ],
      "vm1-a": [{ name: "vm1-a-udev-90-tap.rules", kind: "UdevRule", state: "in-sync", drift: [] }],
      vm2: [{ name: "vm2-udev-90-tap.rules", kind: "UdevRule", state: "unknown", drift: [] }],
    });
  });
});

describe("the page", () => {
  it("a NIC with no napi_poll in its window (no traffic) is said so, not drawn", async () => {
    const nic = { device: "enp0s3", source: "tracefs" as const, windowSeconds: 5, histogram: {}, polls: 0 };
    const report: FleetReport = {
      stack: "lab",
      generatedAt: "2026-11-28T00:00:00Z",
      hosts: [
        {
          name: "vm1",
          address: "127.0.0.1",
          reachable: true,
          resources: [],
          napi: [{ ...nic, pollsPerSecond: 0, zeroWorkShare: null, irqsPerSecond: 0, coalescing: { "rx-usecs": 100 } }],
        },
      ],
    };
    const html = await renderReport(report);
    expect(html).toContain('<figure class="plot empty" data-host="vm1" data-device="enp0s3"');
    expect(html).toContain("no napi_poll on this NIC in the window");
  });
});

describe("report progress", () => {
  const stream = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, isTTY, columns: 100, write: (s: string) => writes.push(s) };
  };

  it("on a terminal, keeps a status line under the events: a bar, hosts done of all, what runs, the time", () => {
    const out = stream(true);
    let t = 0;
    const p = new Progress(4, out, () => t);
    p.working("h1", "reading root@10.0.0.1:22");
    p.working("h2", "napi_poll on eth0 (10 s)");
    p.finished("h3", true);
    t = 12_000;
    expect(p.status()).toBe(
      "[#####...............] 1/4 hosts 12s · h1 reading root@10.0.0.1:22, h2 napi_poll on eth0 (10 s)",
    );
    p.finished("h4", false, "connection refused");
    p.stop();
    const screen = out.writes.join("");
    // Events stay as lines; the status line is redrawn in place and cleared at the end.
    expect(screen).toContain("\r\x1b[Khosttune report: h4: cannot be read: connection refused\n");
    expect(screen).toContain("\r\x1b[K[##########..........] 2/4 hosts, 1 unreachable 12s · h1 reading");
    expect(screen.endsWith("\r\x1b[K")).toBe(true);
  });

  it("in a log, writes lines only, each finished host with the count", () => {
    const out = stream(false);
    const p = new Progress(2, out);
    p.working("h1", "reading root@10.0.0.1:22");
    p.finished("h1", true);
    p.finished("h2", false, "timed out");
    p.stop();
    expect(out.writes).toEqual([
      "hosttune report: h1: reading root@10.0.0.1:22\n",
      "hosttune report: h1: done (1/2 hosts)\n",
      "hosttune report: h2: cannot be read: timed out (2/2 hosts, 1 unreachable)\n",
    ]);
  });

  it("fits the terminal's width", () => {
    const out = { ...stream(true), columns: 30 };
    const p = new Progress(1, out);
    p.working("h1", "a very long description of what it waits on");
    expect(p.status().length).toBeLessThanOrEqual(29);
    p.stop();
  });
});
