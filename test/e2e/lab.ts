// The lab fleet as the e2e tests see it: the VMs booted by globalSetup, an independent way
// to run commands on them (the system's ssh, not hosttune's transport), and stacks of the
// real program run by the real Pulumi CLI.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const REPO = resolve(__dirname, "..", "..");
export const LAB_DIR = process.env.HOSTTUNE_TEST_LAB_DIR ?? join(REPO, ".lab", "test");
export const LAB_PORT = Number(process.env.HOSTTUNE_TEST_LAB_PORT ?? 10122);
export const LAB_VMS = Number(process.env.HOSTTUNE_TEST_VMS ?? 2);
/** Debian release per VM, in order (lab/lab.sh's HOSTTUNE_LAB_RELEASES). */
export const LAB_RELEASES = process.env.HOSTTUNE_TEST_RELEASES ?? "bookworm trixie";
/** The stacks' state backend (a folder): a lab of its own has its own. */
export const STATE_DIR = process.env.HOSTTUNE_TEST_STATE_DIR ?? join(REPO, ".hosttune", "test-state");

/**
 * lab/lab.sh on this lab (its dir, ports and releases; no stack of its own), e.g. up, down,
 * manager N VARIANT; its output goes to the test's. Not blocking the worker: lab/lab.sh may wait
 * minutes for a VM, and vitest fails a run whose worker does not answer for 60 s.
 */
export function labSh(...args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("bash", [join(REPO, "lab", "lab.sh"), ...args], {
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        HOSTTUNE_LAB_DIR: LAB_DIR,
        HOSTTUNE_LAB_PORT: String(LAB_PORT),
        HOSTTUNE_LAB_RELEASES: LAB_RELEASES,
        HOSTTUNE_LAB_STACK: "",
      },
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`lab/lab.sh ${args.join(" ")} exited with ${code}`)),
    );
  });
}

export interface LabVm {
  name: string;
  port: number;
  hostKey: string;
  /** The VM's Debian release (bookworm, trixie), as lab/lab.sh booted it. */
  release: string;
}

export function labVms(): LabVm[] {
  return Array.from({ length: LAB_VMS }, (_, i) => {
    const dir = join(LAB_DIR, `vm${i + 1}`);
    return {
      name: `vm${i + 1}`,
      port: Number(readFileSync(join(dir, "port"), "utf8")),
      hostKey: readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" "),
      release: readFileSync(join(dir, "release"), "utf8").trim(),
    };
  });
}

/**
 * Runs a shell command on a VM as root with the system's ssh; returns stdout. `knownHosts`: a
 * file with the key to expect (the lab's by default), for a test that rotates a VM's key;
 * `identity`, the key to log in with (the lab's by default), for a VM of another lab.
 */
function sshArgs(vm: Pick<LabVm, "port">, command: string, knownHosts: string, identity: string): string[] {
  return [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
    // QEMU's port forward accepts at once, even for a guest that is rebooting or whose network
    // is being reset: a session that never gets an answer must end, not block the test.
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=6",
    "-i",
    identity,
    "-p",
    String(vm.port),
    "root@127.0.0.1",
    command,
  ];
}

export function onVm(
  vm: Pick<LabVm, "port">,
  command: string,
  knownHosts = join(LAB_DIR, "known_hosts"),
  identity = join(LAB_DIR, "id_ed25519"),
): string {
  return execFileSync("ssh", sshArgs(vm, command, knownHosts, identity), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    // (and a last bound: the call blocks the whole test process)
    timeout: 600_000,
  });
}

/**
 * onVm without blocking the test worker: for what may wait long (a guest going down or still
 * booting). vitest fails a run whose worker does not answer its calls for 60 s.
 */
export async function onVmAsync(vm: Pick<LabVm, "port">, command: string): Promise<string> {
  const { stdout } = await execFileAsync(
    "ssh",
    sshArgs(vm, command, join(LAB_DIR, "known_hosts"), join(LAB_DIR, "id_ed25519")),
    {
      encoding: "utf8",
      timeout: 600_000,
    },
  );
  return stdout;
}

export interface FleetConfig {
  hosts: Record<string, unknown>[];
  tuning: Record<string, unknown>;
}

/** The lab's hosts as stack config, with the lab key. */
export function fleetConfig(
  tuning: Record<string, unknown>,
  vms = labVms(),
  overrides: Record<string, unknown> = {},
): FleetConfig & { privateKeyPath: string } {
  return {
    hosts: vms.map((vm) => ({
      name: vm.name,
      host: "127.0.0.1",
      port: vm.port,
      user: "root",
      hostKey: vm.hostKey,
      ...overrides,
    })),
    tuning,
    privateKeyPath: join(LAB_DIR, "id_ed25519"),
  };
}

/** Where e2e stacks live: their own state backend and passphrase, as a user's environment would set. */
export const E2E_ENV = {
  PULUMI_BACKEND_URL: `file://${STATE_DIR}`,
  PULUMI_CONFIG_PASSPHRASE: "hosttune-e2e",
};

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the project's `pulumi` (bin/pulumi: the real CLI with hosttune's defaults) as a user would;
 * `env` over E2E_ENV (another backend, a log of this run's own).
 */
export function pulumi(args: string[], input?: string, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(join(REPO, "bin", "pulumi"), [...args, "--non-interactive"], {
      cwd: REPO,
      env: { ...process.env, ...E2E_ENV, PULUMI_SKIP_CONFIRMATIONS: "true", ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    child.stdin?.end(input);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b) => out.push(b));
    child.stderr!.on("data", (b) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolvePromise({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
  });
}

export interface OpOptions {
  expectNoChanges?: boolean;
  diff?: boolean;
  target?: string[];
  refresh?: boolean;
  /** Any other flags, passed through. */
  args?: string[];
}

/** One stack of this project driven through the `pulumi` binary: the verbs the e2e files use. */
export class CliStack {
  /** `env`: given to every command of this stack (see `pulumi`). */
  constructor(
    readonly name: string,
    readonly env: Record<string, string> = {},
  ) {}

  /** `pulumi <verb> --stack NAME ...`; throws with the CLI's output when it fails. */
  async run(args: string[], input?: string): Promise<CliResult> {
    const r = await pulumi([...args, "--stack", this.name], input, this.env);
    if (r.code !== 0)
      throw new Error(
        `pulumi ${args.join(" ")} failed (rc ${r.code}):\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-4000)}`,
      );
    return r;
  }

  private flags(o: OpOptions): string[] {
    return [
      ...(o.expectNoChanges ? ["--expect-no-changes"] : []),
      ...(o.diff ? ["--diff"] : []),
      ...(o.refresh === false ? ["--refresh=false"] : []),
      ...(o.target ?? []).flatMap((t) => ["--target", t]),
      ...(o.args ?? []),
    ];
  }

  /** `pulumi preview --json`: the engine's change summary, the steps and their diffs. */
  async preview(
    o: OpOptions = {},
  ): Promise<{ changeSummary: Record<string, number>; steps: PreviewStep[]; outputs: string }> {
    const r = await this.run(["preview", "--json", ...this.flags(o)]);
    const j = JSON.parse(r.stdout);
    return { changeSummary: j.changeSummary ?? {}, steps: j.steps ?? [], outputs: r.stdout };
  }

  /** `pulumi up --yes`; the summary is what `pulumi stack history` recorded for it. */
  async up(o: OpOptions = {}): Promise<{ summary: { resourceChanges: Record<string, number> }; stdout: string }> {
    const r = await this.run(["up", "--yes", "--skip-preview", ...this.flags(o)]);
    return { summary: { resourceChanges: (await this.lastUpdate()).resourceChanges ?? {} }, stdout: r.stdout };
  }

  async refresh(o: OpOptions = {}): Promise<CliResult> {
    return this.run(["refresh", "--yes", "--skip-preview", ...this.flags(o)]);
  }

  async destroy(o: OpOptions = {}): Promise<CliResult> {
    return this.run(["destroy", "--yes", "--skip-preview", ...this.flags(o)]);
  }

  async lastUpdate(): Promise<{ kind: string; result: string; resourceChanges?: Record<string, number> }> {
    const r = await this.run(["stack", "history", "--json"]);
    return JSON.parse(r.stdout)[0];
  }

  async outputs(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.run(["stack", "output", "--json", "--show-secrets"])).stdout);
  }

  /** `pulumi config set` per key (objects as JSON, as Pulumi's own config set-all does). */
  async setAllConfig(config: object): Promise<void> {
    const pairs = Object.entries(config).map(
      ([k, v]) => `hosttune:${k}=${typeof v === "string" ? v : JSON.stringify(v)}`,
    );
    await this.run(["config", "set-all", ...pairs.flatMap((p) => ["--plaintext", p])]);
  }

  async remove(): Promise<void> {
    await this.run(["stack", "rm", "--yes", "--force", "--preserve-config=false"]).catch(() => {});
  }
}

export interface PreviewStep {
  op: string;
  urn: string;
  diffReasons?: string[];
  detailedDiff?: Record<string, unknown>;
  oldState?: { outputs?: Record<string, unknown> };
  newState?: { inputs?: Record<string, unknown> };
}

/**
 * A fresh stack of the real program (index.ts) with its config set: `pulumi stack init` +
 * `config set-all`; `env` as for CliStack.
 */
export async function labStack(name: string, config: object, env: Record<string, string> = {}): Promise<CliStack> {
  mkdirSync(STATE_DIR, { recursive: true });
  const stack = new CliStack(name, env);
  await stack.remove();
  await pulumi(["stack", "init", name], undefined, env).then((r) => {
    if (r.code !== 0) throw new Error(`pulumi stack init ${name}: ${r.stderr}`);
  });
  await stack.setAllConfig(config);
  return stack;
}

/** Sets a fresh SSH handshake log for the next operation; returns a reader of it. */
export function sshLog(): () => { pid: number; host: string; port: number }[] {
  const file = join(mkdtempSync(join(tmpdir(), "hosttune-ssh-")), "log.jsonl");
  process.env.HOSTTUNE_SSH_LOG = file;
  return () => {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return [];
    }
    return text
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  };
}

/** Handshakes per (plugin process, port): "one connection per host per deployment" means all 1. */
export function handshakesPerDeployment(log: { pid: number; port: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of log) out[`${e.pid}:${e.port}`] = (out[`${e.pid}:${e.port}`] ?? 0) + 1;
  return out;
}

/** Runs `up` expecting it to fail; returns the CLI's error text. */
export async function upFailure(stack: CliStack): Promise<string> {
  const err = await stack.up().then(
    () => undefined,
    (e: Error) => e,
  );
  if (!err) throw new Error(`up of ${stack.name} succeeded but was expected to fail`);
  return String(err.message);
}

/** The VM's boot id: changes with every boot. */
export function bootId(vm: LabVm): string {
  return onVm(vm, "cat /proc/sys/kernel/random/boot_id").trim();
}

/** Reboots a VM and waits until it is back on SSH with a new boot id. */
export async function rebootVm(vm: LabVm, timeoutMs = 300_000): Promise<void> {
  const before = bootId(vm);
  try {
    await onVmAsync(vm, "systemctl reboot");
  } catch {
    // The session may drop as the guest goes down.
  }
  await waitForBoot(vm, before, timeoutMs);
}

/** Waits until the VM answers SSH with a boot id other than `before`, and has finished booting. */
export async function waitForBoot(vm: LabVm, before: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, 3000));
    try {
      // Each wait for the boot to finish is bounded (timeout's 124: still booting, ask again).
      const [now, rc] = (
        await onVmAsync(
          vm,
          "cat /proc/sys/kernel/random/boot_id; timeout 30 systemctl is-system-running --wait >/dev/null 2>&1; echo $?",
        )
      )
        .trim()
        .split("\n");
      if (now !== before && rc !== "124") return;
    } catch {
      // Not up yet.
    }
    if (Date.now() > deadline) {
      const console = readFileSync(join(LAB_DIR, vm.name, "console.log"), "utf8")
        .split("\n")
        .slice(-15)
        .join("\n");
      throw new Error(
        `${vm.name} did not come back from reboot within ${timeoutMs / 1000}s; its console ends:\n${console}`,
      );
    }
  }
}

/** What a ManagementVrf change touches on a VM, to compare before and after (interface names
 * sorted: their order in `ip link` can change between boots). */
export function netState(vm: LabVm): string {
  return onVm(
    vm,
    "ip -br link | awk '{print $1}' | sort; ip route; ip -6 rule | grep -v l3mdev; " +
      "ip rule | grep -v l3mdev; sysctl -n net.ipv4.tcp_l3mdev_accept net.ipv4.udp_l3mdev_accept; " +
      "ls /etc/systemd/network; readlink /etc/resolv.conf; systemctl is-active systemd-resolved; systemctl is-enabled systemd-resolved",
  );
}
