// A CLI that dies mid-run (killed, out of memory, its terminal gone) leaves none of its plugins
// behind: the language host, the program it runs and the dynamic-provider plugins exit once the
// engine that started them is gone (before, they lived on for as long as an hour).
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SshdFleet } from "../../bench/sshdFleet";
import { type CliStack, E2E_ENV, REPO } from "../e2e/lab";
import { CURRENT_QDISC, fleetRule, fleetStack, startFleet, stopFleet } from "./fleetStack";

let fleet: SshdFleet;
let stack: CliStack;

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

function processes(): Proc[] {
  return execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [pid, ppid, ...args] = l.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), args: args.join(" ") };
    });
}

function descendants(all: Proc[], pid: number): Proc[] {
  const kids = all.filter((p) => p.ppid === pid);
  return kids.flatMap((k) => [k, ...descendants(all, k.pid)]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  fleet = await startFleet(2);
  stack = await fleetStack("e2e-fleet-cli-killed", fleet, {
    defaultQdisc: { qdisc: CURRENT_QDISC },
    udevRules: [fleetRule("a"), fleetRule("b")],
  });
}, 120_000);

afterAll(async () => {
  await stack?.remove();
  stopFleet(fleet);
});

it(
  "the CLI killed mid-preview: its language host, program and provider plugins exit",
  { timeout: 240_000 },
  async () => {
    const wrapper = spawn(join(REPO, "bin", "pulumi"), ["preview", "--stack", stack.name, "--non-interactive"], {
      cwd: REPO,
      env: { ...process.env, ...E2E_ENV },
      stdio: "ignore",
    });
    // Wait for the engine to have its plugins running (the refresh's provider at the least).
    let cli: Proc | undefined;
    let plugins: Proc[] = [];
    for (const end = Date.now() + 120_000; Date.now() < end; await sleep(100)) {
      const all = processes();
      cli = all.find((p) => p.ppid === wrapper.pid);
      plugins = cli ? descendants(all, cli.pid) : [];
      if (plugins.some((p) => /pulumi-resource-pulumi-nodejs/.test(p.args))) break;
    }
    expect(plugins.map((p) => p.args).join("\n")).toMatch(/pulumi-resource-pulumi-nodejs/);
    expect(plugins.map((p) => p.args).join("\n")).toMatch(/pulumi-language-nodejs/);
    // The engine dies without a word to its plugins.
    process.kill(cli!.pid, "SIGKILL");
    for (const end = Date.now() + 15_000; Date.now() < end && plugins.some((p) => alive(p.pid));) await sleep(200);
    const left = plugins.filter((p) => alive(p.pid));
    for (const p of left) process.kill(p.pid, "SIGKILL");
    expect(left.map((p) => p.args)).toEqual([]);
    await new Promise((r) => (wrapper.exitCode === null ? wrapper.on("exit", r) : r(undefined)));
  },
);
