// A stack whose host is behind a bastion, through the real CLI (bin/pulumi): two real sshd
// hosts (bench/sshdFleet: this machine, each in a mount namespace whose writes land in the
// host's folder), the first the bastion of the second. Only what lands in the host's folder is
// asked: the default qdisc this machine has now (its runtime sysctl is never written), in the
// host's own sysctl.d.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetAddress, type SshdFleet, startSshdFleet } from "../../bench/sshdFleet";
import { type CliStack, labStack, sshLog, upFailure } from "../e2e/lab";

const QDISC = readFileSync("/proc/sys/net/core/default_qdisc", "utf8").trim();
const FILE = "90-hosttune-default-qdisc.conf";

/** A port nothing listens on at `address` (a system sshd may hold 22 on every address). */
function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().on("error", reject);
    s.listen(0, address, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe("a host behind a bastion, through the real CLI", { timeout: 600_000 }, () => {
  let fleet: SshdFleet;
  let stack: CliStack;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-bastion-"));
    fleet = await startSshdFleet({ n: 2, dir, port: await freePort(fleetAddress(0)) });
    const [bastion, host] = fleet.hosts;
    stack = await labStack(`bastion-${process.pid}`, {
      hosts: [{ name: "web", host: host.address, port: host.port, knownHostsFile: fleet.knownHostsFile }],
      // No credentials or known_hosts of its own: the bastion uses the stack's key and the host's file.
      proxy: { host: bastion.address, port: bastion.port },
      tuning: { defaultQdisc: { qdisc: QDISC } },
      privateKeyPath: fleet.keyPath,
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.remove();
    fleet?.stop();
    if (fleet) rmSync(fleet.dir, { recursive: true, force: true });
  });

  const claim =
    "up converges the host through the bastion, a preview reads it through it " +
    "(one handshake per hop per deployment), a wrong bastion pin fails up naming it";
  it(claim, async () => {
    const [bastion, host] = fleet.hosts;
    const hops = (entries: { pid: number; host: string; via?: string }[]) => {
      const byPid = new Map<number, string[]>();
      for (const e of entries)
        byPid.set(e.pid, [...(byPid.get(e.pid) ?? []), e.via ? `${e.host} via ${e.via}` : e.host]);
      return [...byPid.values()].map((h) => h.sort());
    };
    const oneEach = [[bastion.address, `${host.address} via root@${bastion.address}:${bastion.port}`]];
    const machineFile = join("/etc/sysctl.d", FILE);
    const hadMachineFile = existsSync(machineFile);

    let log = sshLog();
    await stack.up();
    expect(hops(log())).toEqual(oneEach);
    expect(readFileSync(join(host.dir, "sysctl.d", FILE), "utf8")).toContain(`= ${QDISC}`);
    expect(existsSync(join(bastion.dir, "sysctl.d", FILE))).toBe(false);
    expect(existsSync(machineFile)).toBe(hadMachineFile);

    log = sshLog();
    const before = [bastion.accepted(), host.accepted()];
    await stack.preview({ expectNoChanges: true });
    expect(hops(log())).toEqual(oneEach);
    expect([bastion.accepted() - before[0], host.accepted() - before[1]]).toEqual([1, 1]);

    // A wrong pin for the bastion: the next up (which dials with the program's connection) fails
    // naming the hop and both keys. (The refresh before it reads with the state's.)
    const wrong = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF";
    await stack.setAllConfig({ proxy: { host: bastion.address, port: bastion.port, hostKey: wrong } });
    expect(await upFailure(stack)).toMatch(
      new RegExp(
        `via root@${bastion.address}:${bastion.port}: the bastion's key: .*host key mismatch: the host offered SHA256:\\S+, the pinned hostKey trusts SHA256:`,
      ),
    );

    await stack.destroy();
    expect(existsSync(join(host.dir, "sysctl.d", FILE))).toBe(false);
  });
});
