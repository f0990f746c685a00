import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { factScript, parseFacts } from "../../providers/core/facts";
import { run } from "../../providers/core/transport";
import {
  AGGREGATE,
  CANNOT_MEASURE,
  napiFacts,
  napiResult,
  napiScript,
  napiTimeoutMs,
  parseCounts,
  parseIrqs,
} from "../../providers/effect/napi";
import { stolenFacts, stolenResult } from "../../providers/effect/stolen";
import { suiteSshd } from "./sshd";

// Windows of 1-2 s plus a tracer's start: well past vitest's default 5 s on a busy machine.
describe("napi_poll counts", { timeout: 120_000 }, () => {
  // Captured on this machine (virtio-net's queues carry no device name in the tracepoint).
  const captured = (f: string) => readFileSync(join(__dirname, "..", "fixtures", "effect", f), "utf8");

  it("reads bpftrace's map as bpftrace prints it at exit (its warnings around it)", () => {
    expect(parseCounts(captured("bpftrace-napi.txt"))).toEqual({ "(no_device)": { "1": 249, "2": 26 } });
  });

  // Captured on the lab VMs by test/fixtures/effect/capture-lab.sh, a flood ping coming in through
  // each VM's e1000e (enp0s3): Debian 12 (kernel 6.1.0-56, bpftrace 0.17.0, perf 6.1.192) and
  // Debian 13 (kernel 6.12.118, bpftrace 0.23.2, perf 6.12.118). bpftrace's map over a 5 s window,
  // as napiScript runs it; the first 400 lines perf script printed for a 1 s window.
  it.each([
    ["bookworm", { "0": 1252, "1": 3329, "2": 1 }],
    ["trixie", { "0": 530, "1": 30787 }],
  ])("reads bpftrace's map as it printed it on the %s lab VM", (release, enp0s3) => {
    expect(parseCounts(captured(`lab-${release}-bpftrace.txt`))).toEqual({ enp0s3 });
  });

  it.each([
    ["bookworm", { "0": 46, "1": 354 }],
    ["trixie", { "0": 34, "1": 366 }],
  ])("counts the %s lab VM's perf script lines on the host, to the numbers counted by hand", (release, enp0s3) => {
    const lines = captured(`lab-${release}-perf-script.txt`);
    const byHand: Record<string, Record<string, number>> = {};
    for (const m of lines.matchAll(/for device (\S+) work (\d+) budget/g))
      (byHand[m[1]] ??= {})[m[2]] = (byHand[m[1]][m[2]] ?? 0) + 1;
    expect(byHand).toEqual({ enp0s3 });
    const aggregated = execFileSync("sh", ["-c", AGGREGATE], { input: lines, encoding: "utf8" });
    expect(parseCounts(aggregated)).toEqual(byHand);
  });

  it("polls counted under no device name are a failed measurement, not a NIC without polls", () => {
    // Captured on the Debian 13 lab VM with `str(args->dev_name)`: trixie's bpftrace 0.23 reads the
    // tracepoint's dev_name (a __data_loc string) from the wrong offset, so every poll was nameless.
    const facts = {
      irqs0: { rc: 0, out: "uptime 10.00\ndev enp0s3\n" },
      trace: { rc: 0, out: `source bpftrace\n${captured("lab-trixie-bpftrace-args-dev-name.txt")}` },
      irqs1: { rc: 0, out: "uptime 15.00\ndev enp0s3\n" },
      left: { rc: 0, out: "" },
    };
    expect(napiResult(facts, ["enp0s3"], 5)).toEqual({
      cannotMeasure:
        "napi_poll trace failed: bpftrace counted 27474 polls under no device name " +
        "(it could not read the tracepoint's device names)",
      leftover: [],
    });
  });

  it("bpftrace names a poll's device as the tracepoint does (napi->dev's name, else (no_device))", () => {
    const { text } = napiFacts(["enp0s3"], 5).trace;
    expect(text).toContain("args->napi->dev->name");
    expect(text).toContain('"(no_device)"');
    expect(text).not.toContain("args->dev_name");
  });

  it("counts perf's and tracefs's lines on the host, to the same numbers", () => {
    const lines = captured("perf-script-napi.txt");
    const byHand: Record<string, Record<string, number>> = {};
    for (const m of lines.matchAll(/for device (\S+) work (\d+) budget/g))
      (byHand[m[1]] ??= {})[m[2]] = (byHand[m[1]][m[2]] ?? 0) + 1;
    const aggregated = execFileSync("sh", ["-c", AGGREGATE], { input: lines, encoding: "utf8" });
    expect(parseCounts(aggregated)).toEqual(byHand);
    expect(Object.values(byHand["(no_device)"]).reduce((a, b) => a + b, 0)).toBe(200);
  });

  it("counts a NIC's interrupts from its MSI IRQs in /proc/interrupts", () => {
    const out = [
      "uptime 100.50",
      "dev enp0s3 24 25",
      "dev eni1np1",
      "           CPU0       CPU1       ",
      " 24:         10          5  PCI-MSIX-0000:00:03.0   0-edge      enp0s3-rx-0",
      " 25:          1          2  PCI-MSIX-0000:00:03.0   1-edge      enp0s3-tx-0",
      "NMI:          0          0   Non-maskable interrupts",
    ].join("\n");
    expect(parseIrqs(out)).toEqual({
      uptime: 100.5,
      irqs: { enp0s3: ["24", "25"], eni1np1: [] },
      counts: { "24": 15, "25": 3 },
    });
  });

  it("reports the share of polls that found no work, and interrupts per second", () => {
    const facts = {
      irqs0: { rc: 0, out: "uptime 10.00\ndev eth0 30\n 30: 100 100  x\n" },
      trace: { rc: 0, out: "source bpftrace\n@[eth0, 0]: 30\n@[eth0, 1]: 10\n" },
      irqs1: { rc: 0, out: "uptime 12.00\ndev eth0 30\n 30: 150 150  x\n" },
      left: { rc: 0, out: "" },
    };
    expect(napiResult(facts, ["eth0", "eth1"], 2)).toEqual({
      leftover: [],
      effects: [
        {
          device: "eth0",
          source: "bpftrace",
          windowSeconds: 2,
          histogram: { "0": 30, "1": 10 },
          polls: 40,
          pollsPerSecond: 20,
          zeroWorkShare: 0.75,
          irqsPerSecond: 50,
        },
        {
          device: "eth1",
          source: "bpftrace",
          windowSeconds: 2,
          histogram: {},
          polls: 0,
          pollsPerSecond: 0,
          zeroWorkShare: null,
          irqsPerSecond: null,
        },
      ],
    });
  });

  // A PATH with the shell's everyday tools, and perf if asked; never bpftrace.
  function without(perf: "perf" | "no perf"): string {
    const bin = mkdtempSync(join(tmpdir(), "hosttune-notracer-"));
    const tools = ["sh", "cat", "awk", "mktemp", "timeout", "nice", "pgrep", "ls", "rm", "rmdir", "mkdir", "mount"];
    for (const t of [...tools, "unshare", "sleep", "grep", ...(perf === "perf" ? ["perf"] : [])])
      symlinkSync(execFileSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).trim(), join(bin, t));
    return bin;
  }
  const measureHere = (path: string, devices: string[], seconds: number) =>
    napiResult(
      parseFacts(
        execFileSync("/bin/sh", ["-c", factScript(napiFacts(devices, seconds)).text], {
          encoding: "utf8",
          env: { PATH: path },
        }),
      ),
      devices,
      seconds,
    );

  it("starts bpftrace at the host's own priority: niced, it did not start in 300 s on a busy one-CPU VM", () => {
    // A stand-in bpftrace that counts one poll on a device named after the niceness it runs at.
    const bin = without("no perf");
    writeFileSync(join(bin, "bpftrace"), '#!/bin/sh\necho "@[nice$(nice), 1]: 1"\n', { mode: 0o755 });
    const own = `nice${execFileSync("nice", { encoding: "utf8" }).trim()}`;
    const r = measureHere(bin, [own], 1);
    expect(r).toMatchObject({ leftover: [], effects: [{ device: own, source: "bpftrace", polls: 1 }] });
  });

  it("gives bpftrace's start more than twice the 120 s that were not enough on the trixie lab VM", () => {
    // One TCG CPU, a flood ping into its e1000e, this machine busy: bpftrace 0.23 had not started
    // when its time limit (window + 120 s) ran out; other starts there took 25 to 95 s.
    const window = 5;
    const limit = Number(/timeout -k 5 -s INT (\d+) bpftrace /.exec(napiFacts(["enp0s3"], window).trace.text)?.[1]);
    expect(limit - window).toBeGreaterThan(2 * 120);
    // The host's deadline outlasts the limit, the kill after it (-k 5) and the facts around it.
    expect(napiTimeoutMs(window)).toBeGreaterThan((limit + 5 + 30) * 1000);
  });

  it("without bpftrace, counts with perf record", () => {
    const r = measureHere(without("perf"), ["(no_device)"], 2);
    if (!("effects" in r)) throw new Error(`not measured: ${r.cannotMeasure}`);
    expect(r.leftover).toEqual([]);
    expect(r.effects[0].source).toBe("perf");
  });

  it("without bpftrace or perf, counts through a tracefs instance of its own and removes it", () => {
    const r = measureHere(without("no perf"), ["(no_device)"], 2);
    if (!("effects" in r)) throw new Error(`not measured: ${r.cannotMeasure}`);
    expect(r.leftover).toEqual([]);
    expect(r.effects[0].source).toBe("tracefs");
    expect(execFileSync("sh", ["-c", "ls /sys/kernel/tracing/instances"], { encoding: "utf8" })).not.toMatch(
      /hosttune-napi/,
    );
  });

  it("a host with no tracer is told what to install, and nothing else fails", () => {
    // Neither tool, and no tracefs: both of its places hidden in a mount namespace of its own.
    const script = factScript(napiFacts(["lo"], 1)).text;
    const hide = 'mount -t tmpfs none /sys/kernel/tracing && mount -t tmpfs none /sys/kernel/debug && exec sh -c "$0"';
    const out = execFileSync("unshare", ["-m", "--propagation", "private", "sh", "-c", hide, script], {
      encoding: "utf8",
      env: { PATH: without("no perf") },
    });
    expect(napiResult(parseFacts(out), ["lo"], 1)).toEqual({ cannotMeasure: CANNOT_MEASURE, leftover: [] });
  });
});

describe("effect measurements on a real host (sshd on this machine)", { timeout: 120_000 }, () => {
  const suite = suiteSshd();

  it("counts napi_poll with bpftrace, within its window, and leaves no tracer behind", async () => {
    const devices = ["(no_device)", "lo"];
    const { script, timeoutMs } = napiScript(devices, 2);
    const t0 = Date.now();
    const r = napiResult(parseFacts((await run(suite.sshd.connection, script, { timeoutMs })).stdout), devices, 2);
    expect(Date.now() - t0).toBeGreaterThan(2000);
    if (!("effects" in r)) throw new Error(`not measured: ${r.cannotMeasure}`);
    expect(r.leftover).toEqual([]);
    expect(r.effects.map((e) => [e.device, e.source])).toEqual([
      ["(no_device)", "bpftrace"],
      ["lo", "bpftrace"],
    ]);
    for (const e of r.effects) {
      expect(e.polls).toBe(Object.values(e.histogram).reduce((a, b) => a + b, 0));
      for (const [work, n] of Object.entries(e.histogram)) {
        expect(Number(work)).toBeGreaterThanOrEqual(0);
        expect(n).toBeGreaterThan(0);
      }
    }
    expect(execFileSync("sh", ["-c", "pgrep -x 'bpftrace|perf' || true"], { encoding: "utf8" })).toBe("");
  });

  it("measures stolen CPU of a pinned openssl on one CPU", async () => {
    const r = await run(suite.sshd.connection, factScript(stolenFacts(0, 1)), { timeoutMs: 120_000 });
    const s = stolenResult(parseFacts(r.stdout), 0, 1);
    if ("cannotMeasure" in s) throw new Error(s.cannotMeasure);
    expect(s.userSeconds).toBeGreaterThan(0.3);
    expect(s.stolenShare).toBeGreaterThanOrEqual(0);
    expect(s.stolenShare).toBeLessThan(1);
  });

  it("a CPU the host does not have is a clear 'cannot measure'", async () => {
    const r = await run(suite.sshd.connection, factScript(stolenFacts(999, 1)));
    expect(stolenResult(parseFacts(r.stdout), 999, 1)).toEqual({
      cannotMeasure: "cannot measure stolen CPU: no CPU 999 on this host",
    });
  });
});
