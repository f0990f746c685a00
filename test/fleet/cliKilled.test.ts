// A CLI that dies mid-run (killed, out of memory, its terminal gone) leaves none of its plugins
// behind: the language host, the program it runs and the dynamic-provider plugin exit once the
// engine is gone (before, they lived on for as long as an hour). And nothing is
// lost: bin/pulumi saves the state at the end of a run only, and the hosts keep their originals;
// the next command removes the lock the killed run left on the stack.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SshdFleet } from "../../bench/sshdFleet";
import { type CliStack, E2E_ENV, REPO } from "../e2e/lab";
import {
  CURRENT_QDISC,
  fleetRule,
  fleetStack,
  fleetStackConfig,
  onHost,
  ruleFile,
  startFleet,
  stopFleet,
} from "./fleetStack";

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

/** Polls `done` every `stepMs` until it holds or `ms` have passed. */
async function waitUntil(done: () => unknown, ms: number, stepMs = 100): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end && !done();) await sleep(stepMs);
}

const PROVIDER = /pulumi-resource-pulumi-nodejs/;
const LANGUAGE_HOST = /pulumi-language-nodejs/;
// The SDK's runner, started cold or ahead (warm-runner.js).
const PROGRAM = /@pulumi\/pulumi\/cmd\/run|warm-runner\.js/;
const isPlugin = (p: Proc) => PROVIDER.test(p.args) || LANGUAGE_HOST.test(p.args);

const STACK = "e2e-fleet-cli-killed";
const TUNING = { defaultQdisc: { qdisc: CURRENT_QDISC }, udevRules: [fleetRule("a"), fleetRule("b")] };

beforeAll(async () => {
  fleet = await startFleet(2);
  stack = await fleetStack(STACK, fleet, TUNING);
}, 120_000);

/**
 * Starts bin/pulumi with these arguments on the stack; `children()` finds the CLI and the plugins
 * it started (the provider, the language host), and every process under it.
 */
function startPulumi(args: string[]) {
  const wrapper = spawn(join(REPO, "bin", "pulumi"), [...args, "--stack", stack.name, "--non-interactive"], {
    cwd: REPO,
    env: { ...process.env, ...E2E_ENV },
    stdio: "ignore",
  });
  started.push(wrapper);
  const exited = new Promise((r) => (wrapper.exitCode === null ? wrapper.on("exit", r) : r(undefined)));
  const children = () => {
    const all = processes();
    const own = all.filter((p) => p.ppid === wrapper.pid);
    return {
      cli: own.find((p) => !isPlugin(p)),
      provider: own.find((p) => PROVIDER.test(p.args)),
      languageHost: own.find((p) => LANGUAGE_HOST.test(p.args)),
      all: descendants(all, wrapper.pid),
    };
  };
  return { wrapper, exited, children };
}

// Runs and outside locks a test started: ended by afterAll too, should the test fail before it
// ends them (else the stack's removal waits on the lock of a host a run still holds).
const started: { kill(signal: NodeJS.Signals): unknown }[] = [];
const outsideLocks: ReturnType<typeof onHost>[] = [];

/** The host's lock, held from outside until its stdin ends: resolves once held. */
async function holdFromOutside(h: SshdFleet["hosts"][number]) {
  const lock = onHost(
    fleet,
    h,
    "mkdir -p /run/hosttune && exec 9>>/run/hosttune/host.lock && flock 9 && echo held && cat",
  );
  outsideLocks.push(lock);
  await new Promise((r) => lock.stdout!.once("data", r));
  return lock;
}

afterAll(async () => {
  for (const r of started) r.kill("SIGKILL");
  for (const l of outsideLocks) l.stdin!.end();
  await stack?.remove();
  stopFleet(fleet);
});

it(
  "the CLI killed mid-preview: its language host, program and provider plugins exit",
  { timeout: 240_000 },
  async () => {
    const { exited, children } = startPulumi(["preview"]);
    // Wait for the engine to have its plugins running: the language host and the provider plugin
    // (started by bin/pulumi for the engine to attach to).
    let cli: Proc | undefined;
    let plugins: Proc[] = [];
    let all: Proc[] = [];
    await waitUntil(() => {
      ({ cli, all } = children());
      plugins = all.filter((p) => p.pid !== cli?.pid);
      const args = plugins.map((p) => p.args).join("\n");
      return cli && PROVIDER.test(args) && LANGUAGE_HOST.test(args);
    }, 120_000);
    for (const what of [PROVIDER, LANGUAGE_HOST]) expect(plugins.map((p) => p.args).join("\n")).toMatch(what);
    // The engine attached to both plugins: it started none of its own.
    expect(descendants(all, cli!.pid).filter(isPlugin)).toEqual([]);
    // The engine dies without a word to its plugins.
    process.kill(cli!.pid, "SIGKILL");
    await waitUntil(() => !plugins.some((p) => alive(p.pid)), 15_000, 200);
    const left = plugins.filter((p) => alive(p.pid));
    for (const p of left) process.kill(p.pid, "SIGKILL");
    expect(left.map((p) => p.args)).toEqual([]);
    await exited;
  },
);

it(
  "bin/pulumi killed as it starts the plugins, or mid-up: the plugins it started for the engine exit, " +
    "and the language host's program with them",
  { timeout: 300_000 },
  async () => {
    // Started, and killed once both plugins are up.
    let run = startPulumi(["preview"]);
    let now = run.children();
    await waitUntil(() => (now = run.children()).provider && now.languageHost, 120_000);
    await killedLeavesNothing(run, now, "plugins started");

    // An up whose change waits for both hosts' locks (held from outside): its program is running.
    await stack.setAllConfig(fleetStackConfig(fleet, { ...TUNING, udevRules: [...TUNING.udevRules, fleetRule("k")] }));
    const locks = await Promise.all(fleet.hosts.map(holdFromOutside));
    run = startPulumi(["up", "--yes", "--skip-preview"]);
    // The runner is started ahead of the run: the program has run once both hosts' changes wait.
    const waiting = () => processes().filter((p) => /^flock -w \d+ 9$/.test(p.args)).length;
    await waitUntil(
      () => (now = run.children()).all.some((p) => PROGRAM.test(p.args)) && now.provider && waiting() === 2,
      120_000,
    );
    await killedLeavesNothing(run, now, "program running");
    for (const l of locks) l.stdin!.end();
    await stack.setAllConfig(fleetStackConfig(fleet, TUNING));
  },
);

/** Kills bin/pulumi; the plugins it started, and what they ran, are gone within 15 s. */
async function killedLeavesNothing(
  run: ReturnType<typeof startPulumi>,
  now: ReturnType<typeof run.children>,
  when: string,
) {
  const ours = [now.provider, now.languageHost].flatMap((p) => (p ? [p, ...descendants(now.all, p.pid)] : []));
  expect(ours.map((p) => p.args).join("\n"), when).toMatch(PROVIDER);
  expect(ours.map((p) => p.args).join("\n"), when).toMatch(LANGUAGE_HOST);
  if (when === "program running") expect(ours.map((p) => p.args).join("\n"), when).toMatch(PROGRAM);
  run.wrapper.kill("SIGKILL");
  await run.exited;
  await waitUntil(() => !ours.some((p) => alive(p.pid)), 15_000, 200);
  const left = ours.filter((p) => alive(p.pid));
  // The CLI, left without its parent, is not this test's subject.
  for (const p of [...ours, ...(now.cli ? [now.cli] : [])]) if (alive(p.pid)) process.kill(p.pid, "SIGKILL");
  expect(
    left.map((p) => p.args),
    when,
  ).toEqual([]);
}

it(
  "the CLI killed mid-up, after a change reached a host: nothing of the run is saved, the next up adopts " +
    "the change with the host's original, and destroy puts the original back",
  { timeout: 300_000 },
  async () => {
    await stack.up();
    const [done, held] = fleet.hosts;
    const c = fleetRule("c");
    for (const h of fleet.hosts) writeFileSync(ruleFile(h, c.fileName), "# theirs\n");
    const resources = async () => JSON.parse((await stack.run(["stack", "export"])).stdout).deployment.resources;
    const before = await resources();
    await stack.setAllConfig(fleetStackConfig(fleet, { ...TUNING, udevRules: [...TUNING.udevRules, c] }));
    // The second host's lock held from outside: the run cannot end before it is killed.
    const lock = await holdFromOutside(held);
    const run = startPulumi(["up", "--yes", "--skip-preview"]);
    const journal = join(done.dir, "var-lib-hosttune", "journal");
    const changed = () =>
      readFileSync(ruleFile(done, c.fileName), "utf8") === c.content &&
      existsSync(journal) &&
      readdirSync(journal).length;
    await waitUntil(changed, 120_000);
    expect(readFileSync(ruleFile(done, c.fileName), "utf8")).toBe(c.content);
    // Past that change's end in the engine: a checkpoint, had there been one, would hold it.
    await sleep(3000);
    process.kill(run.children().cli!.pid, "SIGKILL");
    await run.exited;
    lock.stdin!.end();

    // The killed run's lock on the stack: the next command removes it, and says so.
    const next = await stack.run(["stack", "export"]);
    expect(next.stderr).toMatch(/removed the lock left by a run that is gone \(pid \d+ of /);
    expect(JSON.parse(next.stdout).deployment.resources).toEqual(before);
    await stack.up();
    const state = JSON.parse((await stack.run(["stack", "export", "--show-secrets"])).stdout);
    const rules = state.deployment.resources.filter((r: { urn: string }) => r.urn.endsWith(`udev-${c.fileName}`));
    expect(rules.map((r: { outputs: { recorded: unknown } }) => r.outputs.recorded)).toEqual([
      { file: "# theirs\n", rejected: null },
      { file: "# theirs\n", rejected: null },
    ]);
    for (const h of fleet.hosts) expect(readFileSync(ruleFile(h, c.fileName), "utf8")).toBe(c.content);

    await stack.destroy();
    for (const h of fleet.hosts) {
      expect(readFileSync(ruleFile(h, c.fileName), "utf8")).toBe("# theirs\n");
      expect(readdirSync(join(h.dir, "var-lib-hosttune", "journal"))).toEqual([]);
    }
  },
);
