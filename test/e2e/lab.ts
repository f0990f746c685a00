// The lab fleet as the e2e tests see it: the VMs booted by globalSetup, an independent way
// to run commands on them (the system's ssh, not hosttune's transport), and stacks of the
// real program run by the real Pulumi CLI.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";

export const REPO = resolve(__dirname, "..", "..");
export const LAB_DIR = process.env.HOSTTUNE_TEST_LAB_DIR ?? join(REPO, ".lab", "test");
export const LAB_PORT = Number(process.env.HOSTTUNE_TEST_LAB_PORT ?? 10122);
export const LAB_VMS = Number(process.env.HOSTTUNE_TEST_VMS ?? 2);

export interface LabVm {
  name: string;
  port: number;
  hostKey: string;
}

export function labVms(): LabVm[] {
  return Array.from({ length: LAB_VMS }, (_, i) => {
    const dir = join(LAB_DIR, `vm${i + 1}`);
    return {
      name: `vm${i + 1}`,
      port: Number(readFileSync(join(dir, "port"), "utf8")),
      hostKey: readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" "),
    };
  });
}

/** Runs a shell command on a VM as root with the system's ssh; returns stdout. */
export function onVm(vm: LabVm, command: string): string {
  return execFileSync(
    "ssh",
    [
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${join(LAB_DIR, "known_hosts")}`,
      "-o",
      "LogLevel=ERROR",
      "-o",
      "ConnectTimeout=10",
      "-i",
      join(LAB_DIR, "id_ed25519"),
      "-p",
      String(vm.port),
      "root@127.0.0.1",
      command,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
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

/** A stack of the real program (index.ts), run by the real CLI, with its config set. */
export async function labStack(name: string, config: Record<string, unknown>): Promise<Stack> {
  process.env.PULUMI_BACKEND_URL = `file://${join(REPO, ".hosttune", "test-state")}`;
  mkdirSync(join(REPO, ".hosttune", "test-state"), { recursive: true });
  const { openStack } = await import("../../cli/hosttune");
  const stack = await openStack(name);
  await stack.setAllConfig(
    Object.fromEntries(
      Object.entries(config).map(([k, v]) => [
        `hosttune:${k}`,
        { value: typeof v === "string" ? v : JSON.stringify(v) },
      ]),
    ),
  );
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
export async function upFailure(stack: Stack): Promise<string> {
  const err = await stack.up({ color: "never" }).then(
    () => undefined,
    (e: Error) => e,
  );
  if (!err) throw new Error(`up of ${stack.name} succeeded but was expected to fail`);
  return String(err.message);
}

/** Reboots a VM and waits until it is back on SSH with a new boot id. */
export async function rebootVm(vm: LabVm, timeoutMs = 300_000): Promise<void> {
  const bootId = onVm(vm, "cat /proc/sys/kernel/random/boot_id").trim();
  try {
    onVm(vm, "systemctl reboot");
  } catch {
    // The session may drop as the guest goes down.
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, 3000));
    try {
      const now = onVm(
        vm,
        "cat /proc/sys/kernel/random/boot_id; systemctl is-system-running --wait >/dev/null 2>&1; true",
      ).trim();
      if (now !== bootId) return;
    } catch {
      // Not up yet.
    }
    if (Date.now() > deadline) throw new Error(`${vm.name} did not come back from reboot within ${timeoutMs / 1000}s`);
  }
}
