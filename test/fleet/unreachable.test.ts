// One unreachable host never hides or stops the others, on a fleet of 20 real sshd hosts
// (issue 9): 2 of them stop; a plain preview still shows the reachable hosts' drift and names
// each unreachable host once; `up` repairs the reachable ones and fails naming exactly the 2;
// once they answer again, `up` converges them.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SshdFleet, SshdHost } from "../../bench/sshdFleet";
import { type CliStack, pulumi } from "../e2e/lab";
import { CURRENT_QDISC, fleetRule, fleetStack, fleetStackConfig, ruleFile, startFleet, stopFleet } from "./fleetStack";

let rules = [fleetRule("a"), fleetRule("b")];
const QDISC_FILE = "90-hosttune-default-qdisc.conf";
let fleet: SshdFleet;
let stack: CliStack;
/** Reachable hosts given drift, each by hand in its folder, and the resource that drifted. */
let drifted: { host: SshdHost; resource: string }[];
let down: SshdHost[];

const qdiscFile = (h: SshdHost) => join(h.dir, "sysctl.d", QDISC_FILE);
const target = (h: SshdHost) => `root@${h.address}:${h.port}`;

/** The resources a preview's text output plans to update, by name (h1-udev-91-fleet-a.rules). */
function updates(out: string): string[] {
  return [
    ...out.matchAll(/~ pulumi-nodejs:dynamic\/hosttune:\w+: \(update\)\n\s*\[id=[^\n]*\n\s*\[urn=[^\n]*::([^\]:]+)\]/g),
  ]
    .map((m) => m[1])
    .sort();
}

/** What the preview's refresh shows for a resource: its block, up to the next resource's. */
function refreshed(out: string, resource: string): string {
  const at = out.indexOf(`::${resource}]`);
  return at < 0 ? "" : out.slice(at, out.indexOf("[urn=", at + 1));
}

function expectConverged(hosts: SshdHost[]): void {
  for (const h of hosts) {
    for (const r of rules) expect(readFileSync(ruleFile(h, r.fileName), "utf8"), h.name).toBe(r.content);
    expect(readFileSync(qdiscFile(h), "utf8"), h.name).toContain(`net.core.default_qdisc = ${CURRENT_QDISC}\n`);
  }
  // The hosts are this machine: its runtime value is the one asked, and never written.
  expect(readFileSync("/proc/sys/net/core/default_qdisc", "utf8").trim()).toBe(CURRENT_QDISC);
}

beforeAll(async () => {
  fleet = await startFleet(20);
  const h = fleet.hosts;
  drifted = [
    { host: h[0], resource: `${h[0].name}-udev-${rules[1].fileName}` },
    { host: h[4], resource: `${h[4].name}-udev-${rules[0].fileName}` },
    { host: h[12], resource: `${h[12].name}-default-qdisc` },
  ];
  down = [h[9], h[16]];
  stack = await fleetStack("e2e-fleet-unreachable", fleet, {
    defaultQdisc: { qdisc: CURRENT_QDISC },
    udevRules: rules,
  });
});

afterAll(async () => {
  await stack?.remove();
  stopFleet(fleet);
});

it("up converges every host", async () => {
  await stack.up();
  expectConverged(fleet.hosts);
});

it("with 2 hosts down, a plain preview shows every reachable host's drift and names each down host once, over one connection per host", async () => {
  writeFileSync(ruleFile(drifted[0].host, rules[1].fileName), "# edited by hand\n");
  rmSync(ruleFile(drifted[1].host, rules[0].fileName));
  rmSync(qdiscFile(drifted[2].host));
  for (const h of down) {
    h.stop();
    // Changed while it is down: once it answers, up must converge it.
    rmSync(ruleFile(h, rules[0].fileName));
  }
  const before = fleet.hosts.map((h) => h.accepted());

  const p = await pulumi(["preview", "--diff", "--stack", stack.name]);
  const out = p.stdout + p.stderr;
  expect(p.code, out).toBe(0);
  // Updates: the drifted resources, and every resource of the down hosts (not known to be as asked).
  const ofDown = down.flatMap((h) => [`${h.name}-default-qdisc`, ...rules.map((r) => `${h.name}-udev-${r.fileName}`)]);
  expect(updates(out)).toEqual([...drifted.map((d) => d.resource), ...ofDown].sort());
  expect(refreshed(out, drifted[0].resource)).toMatch(/drift[\s\S]*asked [^\n]*got \\"# edited by hand\\\\n\\"/);
  expect(refreshed(out, drifted[1].resource)).toMatch(/drift[\s\S]*"file: asked [^\n]*, got null"/);
  expect(refreshed(out, drifted[2].resource)).toMatch(/drift[\s\S]*"file: asked [^\n]*, got null"/);
  // Each down host named once among the run's warnings, and no other host.
  const warnings = [...out.matchAll(/warning: (\S+) is unreachable/g)].map((m) => m[1]);
  expect(warnings.sort(), out).toEqual(down.map(target).sort());
  // sshd's own logs: one connection per reachable host for the whole deployment.
  expect(fleet.hosts.map((h, i) => h.accepted() - before[i])).toEqual(
    fleet.hosts.map((h) => (down.includes(h) ? 0 : 1)),
  );
});

it("up repairs the reachable hosts over one connection each and fails naming exactly the 2 down hosts", async () => {
  const before = fleet.hosts.map((h) => h.accepted());
  const u = await pulumi(["up", "--yes", "--skip-preview", "--stack", stack.name]);
  const out = u.stdout + u.stderr;
  expect(u.code, out).not.toBe(0);
  const named = new Set([...out.matchAll(/error: (root@[\d.]+:\d+): /g)].map((m) => m[1]));
  expect([...named].sort(), out).toEqual(down.map(target).sort());
  const failed = new Set([...out.matchAll(/ (\S+) \*\*updating failed\*\*/g)].map((m) => m[1].split("-")[0]));
  expect([...failed].sort()).toEqual(down.map((h) => h.name).sort());
  expectConverged(fleet.hosts.filter((h) => !down.includes(h)));
  for (const h of down) expect(existsSync(ruleFile(h, rules[0].fileName))).toBe(false);
  // One connection per reachable host for the whole up (sshd's logs).
  expect(fleet.hosts.map((h, i) => h.accepted() - before[i])).toEqual(
    fleet.hosts.map((h) => (down.includes(h) ? 0 : 1)),
  );
});

it("once the 2 hosts answer again, and with a rule changed in the stack's config, up converges every host over one connection each", async () => {
  for (const h of down) await h.start();
  // A new value in the config: the provider (and its process) stays the same for the refresh
  // and the changes, so each host is connected once (it was twice with the default provider).
  rules = [rules[0], fleetRule("b", "/bin/false")];
  await stack.setAllConfig(fleetStackConfig(fleet, { defaultQdisc: { qdisc: CURRENT_QDISC }, udevRules: rules }));
  const before = fleet.hosts.map((h) => h.accepted());
  await stack.up();
  expectConverged(fleet.hosts);
  expect(fleet.hosts.map((h, i) => h.accepted() - before[i])).toEqual(fleet.hosts.map(() => 1));
  await stack.preview({ expectNoChanges: true });
});
