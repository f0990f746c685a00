// A fleet of real sshd hosts for the fleet tests (bench/sshdFleet: OpenSSH servers on 127.0.1.x,
// each in a mount namespace of its own with its own udevd) and stacks of the real program for
// it, driven by the real CLI as the e2e tests drive the lab's.
//
// The hosts are this machine: a test may ask only for what lands in a host's folder. So the
// default qdisc asked is this machine's current one (the runtime sysctl is never written, only
// the host's sysctl.d file), and udev rules have no trigger (file and `udevadm control --reload`
// against the host's own udevd).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SshdFleet, type SshdHost, fleetAddress, startSshdFleet } from "../../bench/sshdFleet";
import { type CliStack, type FleetConfig, labStack } from "../e2e/lab";

/** This machine's net.core.default_qdisc: the one value a fleet test may ask for. */
export const CURRENT_QDISC = readFileSync("/proc/sys/net/core/default_qdisc", "utf8").trim();

/** A TCP port nothing listens on at `address` now. */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().on("error", reject);
    s.listen(0, address, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * n hosts with a udevd each, in a fresh folder, on a free port rather than 22: a system sshd
 * listening on every address's port 22 would keep ours from binding it.
 */
export async function startFleet(n: number): Promise<SshdFleet> {
  const dir = mkdtempSync(join(tmpdir(), "hosttune-fleet-"));
  return startSshdFleet({ n, dir, udevd: true, port: await freePort(fleetAddress(0)) });
}

/** Stops every host (by pid) and removes the fleet's folder. */
export function stopFleet(fleet: SshdFleet | undefined): void {
  if (!fleet) return;
  fleet.stop();
  rmSync(fleet.dir, { recursive: true, force: true });
}

/** A udev rule that matches no device of this machine, with no trigger. */
export function fleetRule(tag: string, body = "/bin/true"): { fileName: string; content: string } {
  return {
    fileName: `91-fleet-${tag}.rules`,
    content: `ACTION=="add", SUBSYSTEM=="net", KERNEL=="fleet${tag}*", RUN+="${body}"\n`,
  };
}

/** The stack config for these hosts (all of the fleet by default), every host with `tuning`. */
export function fleetStackConfig(
  fleet: SshdFleet,
  tuning: Record<string, unknown>,
  hosts: SshdHost[] = fleet.hosts,
): FleetConfig & { privateKeyPath: string } {
  return {
    hosts: hosts.map((h) => ({ name: h.name, host: h.address, port: h.port, user: "root", hostKey: h.hostKey })),
    tuning,
    privateKeyPath: fleet.keyPath,
  };
}

/** A fresh stack of the real program for these hosts; `env` as for CliStack (another backend). */
export function fleetStack(
  name: string,
  fleet: SshdFleet,
  tuning: Record<string, unknown>,
  hosts?: SshdHost[],
  env?: Record<string, string>,
): Promise<CliStack> {
  return labStack(name, fleetStackConfig(fleet, tuning, hosts), env);
}

/** A udev rule file of a host, as the host sees it in /etc/udev/rules.d. */
export function ruleFile(host: SshdHost, fileName: string): string {
  return join(host.dir, "rules.d", fileName);
}

/** Starts a command on a host as root with the system's ssh (stdin open: it ends when closed). */
export function onHost(fleet: SshdFleet, host: SshdHost, command: string): ChildProcess {
  return spawn(
    "ssh",
    [
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${fleet.knownHostsFile}`,
      "-o",
      "LogLevel=ERROR",
      "-i",
      fleet.keyPath,
      "-p",
      String(host.port),
      `root@${host.address}`,
      command,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
}
