// Faults a careful user runs into, on the lab VMs through the real CLI: an SSH connection cut in
// the middle of a change, two stacks changing one host at once, a resource replaced (another
// host address) or renamed (another file), and a sudo password set after the fact. In each,
// nothing the host had before hosttune first touched it is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliStack, fleetConfig, LAB_DIR, labStack, labVms, onVm } from "./lab";

const [vm1, vm2] = labVms();
const FILE = "/etc/sysctl.d/90-hosttune-default-qdisc.conf";
// A sysctl that is slow to set: a window in which to cut the connection or start a second run.
const SLOW_SYSCTL = (seconds: number) =>
  `printf '#!/bin/sh\\ncase "$*" in *-w*) sleep ${seconds} ;; esac\\n` +
  `exec /usr/sbin/sysctl "$@"\\n' > /usr/local/sbin/sysctl && chmod +x /usr/local/sbin/sysctl`;
const FAST_SYSCTL = "rm -f /usr/local/sbin/sysctl";
// A sysctl that holds until released: the window stays open however slow the machine is.
const RELEASE = "/run/hosttune-e2e-release";
const HELD_SYSCTL =
  `rm -f ${RELEASE}; printf '#!/bin/sh\\ncase "$*" in *-w*) while [ ! -e ${RELEASE} ]; do sleep 0.2; ` +
  `done ;; esac\\nexec /usr/sbin/sysctl "$@"\\n' > /usr/local/sbin/sysctl && chmod +x /usr/local/sbin/sysctl`;

type Vm = typeof vm1;
const runtime = (vm: Vm) => onVm(vm, "sysctl -n net.core.default_qdisc").trim();
const file = (vm: Vm, path = FILE) => onVm(vm, `cat ${path} 2>/dev/null || echo ABSENT`).trim();
const stacks: CliStack[] = [];

async function stack(name: string, config: object): Promise<CliStack> {
  const s = await labStack(name, config);
  stacks.push(s);
  return s;
}

async function until(what: string, check: () => boolean, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

let original: { runtime: string; file: string };
beforeAll(() => {
  original = { runtime: runtime(vm1), file: file(vm1) };
  expect(original.file).toBe("ABSENT");
});

afterAll(async () => {
  for (const vm of [vm1, vm2])
    onVm(vm, `${FAST_SYSCTL}; userdel -r pwuser 2>/dev/null; rm -f /etc/sudoers.d/pwuser; true`);
  for (const s of stacks) await s.remove();
});

describe("faults", () => {
  it("an SSH cut in the middle of a change: unknown outcome; the next up converges; destroy restores the very first original", async () => {
    const s = await stack("e2e-fault-cut", fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm1]));
    onVm(vm1, HELD_SYSCTL);
    const up = s.up().then(
      () => "succeeded",
      (e: Error) => e.message,
    );
    // The file step has run and the slow sysctl step is under way: cut every SSH session.
    await until(
      "the held step",
      () => onVm(vm1, "pgrep -f '^/bin/sh /usr/local/sbin/sysctl .*-w' || true").trim() !== "",
    );
    expect(file(vm1)).toContain("noqueue");
    try {
      onVm(vm1, "pkill -KILL -f 'sshd: root@notty'");
    } catch {
      // Our own session is among those cut.
    }
    expect(await up).toMatch(/connection was lost during the change .*outcome is unknown/);
    onVm(vm1, `touch ${RELEASE}; ${FAST_SYSCTL}`);
    await s.up();
    expect([runtime(vm1), file(vm1)]).toEqual(["noqueue", expect.stringContaining("noqueue")]);
    await s.preview({ expectNoChanges: true });
    await s.destroy();
    expect({ runtime: runtime(vm1), file: file(vm1) }).toEqual(original);
  });

  // Both record what the host had before hosttune first touched it (the journal on the host), not
  // the other's value: destroyed in any order, the host ends as it was.
  it("two stacks changing one host at once both finish, one after the other; both record the host's original", async () => {
    const a = await stack("e2e-fault-a", fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm2]));
    const b = await stack("e2e-fault-b", fleetConfig({ defaultQdisc: { qdisc: "pfifo_fast" } }, [vm2]));
    const before = runtime(vm2);
    onVm(vm2, SLOW_SYSCTL(4));
    const done: string[] = [];
    await Promise.all([a.up().then(() => done.push("a")), b.up().then(() => done.push("b"))]);
    onVm(vm2, FAST_SYSCTL);
    const [first, second] = done.map((n) => (n === "a" ? { s: a, q: "noqueue" } : { s: b, q: "pfifo_fast" }));
    // The host holds the last run's value.
    expect(runtime(vm2)).toBe(second.q);
    const recorded = async (s: CliStack) =>
      JSON.parse((await s.run(["stack", "export"])).stdout).deployment.resources.find((r: { type: string }) =>
        r.type.endsWith(":DefaultQdisc"),
      ).outputs.recorded.runtime;
    expect(await recorded(second.s)).toBe(before);
    expect(await recorded(first.s)).toBe(before);
    await second.s.destroy();
    expect(runtime(vm2)).toBe(before);
    await first.s.destroy();
    expect(runtime(vm2)).toBe(before);
  });

  it("a replaced resource (the host's address changes) deletes first, so destroy still restores the original", async () => {
    const s = await stack("e2e-fault-replace", fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm1]));
    await s.up();
    // The same VM by another name: a replacement of every resource on it.
    await s.setAllConfig(fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm1], { host: "localhost" }));
    const r = await s.up();
    expect(r.summary.resourceChanges).toMatchObject({ replace: 1 });
    expect(runtime(vm1)).toBe("noqueue");
    await s.destroy();
    expect({ runtime: runtime(vm1), file: file(vm1) }).toEqual(original);
  });

  it("a renamed file leaves no orphan: up removes the old one, destroy leaves neither", async () => {
    const renamed = "/etc/sysctl.d/91-hosttune-renamed.conf";
    const s = await stack("e2e-fault-rename", fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm1]));
    await s.up();
    await s.setAllConfig(
      fleetConfig({ defaultQdisc: { qdisc: "noqueue", fileName: "91-hosttune-renamed.conf" } }, [vm1]),
    );
    await s.up();
    expect([file(vm1), file(vm1, renamed)]).toEqual(["ABSENT", expect.stringContaining("noqueue")]);
    await s.destroy();
    expect([file(vm1), file(vm1, renamed), runtime(vm1)]).toEqual(["ABSENT", "ABSENT", original.runtime]);
  });

  it("a rotated host key, re-pinned in config: preview and up succeed, and the old pin is gone from state", async () => {
    const tuning = { defaultQdisc: { qdisc: "noqueue" } };
    const s = await stack("e2e-fault-hostkey", fleetConfig(tuning, [vm2]));
    const before = runtime(vm2);
    await s.up();
    // A new host key; the old one is kept to put back, so the other files' ssh keeps working.
    const dir = mkdtempSync(join(tmpdir(), "hosttune-hostkey-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "rotated", "-f", join(dir, "key")]);
    const newKey = readFileSync(join(dir, "key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    const b64 = (f: string) => readFileSync(join(dir, f)).toString("base64");
    onVm(
      vm2,
      "cp -a /etc/ssh/ssh_host_ed25519_key /root/hk.bak && cp -a /etc/ssh/ssh_host_ed25519_key.pub /root/hk.pub.bak && " +
        `echo ${b64("key")} | base64 -d > /etc/ssh/ssh_host_ed25519_key && echo ${b64("key.pub")} | base64 -d > /etc/ssh/ssh_host_ed25519_key.pub && ` +
        "systemctl restart ssh",
    );
    const rotated = join(dir, "known_hosts");
    writeFileSync(rotated, `[127.0.0.1]:${vm2.port} ${newKey}\n`);
    try {
      // The old pin is refused, as it must be: a plain preview reports it (drift, not a crash).
      expect((await s.preview()).changeSummary.update).toBe(1);
      await s.setAllConfig(fleetConfig(tuning, [vm2], { hostKey: newKey }));
      await s.preview();
      await s.up();
      await s.preview({ expectNoChanges: true });
      const state = (await s.run(["stack", "export", "--show-secrets"])).stdout;
      expect(state).toContain(newKey.split(" ")[1]);
      expect(state).not.toContain(vm2.hostKey.split(" ")[1]);
      await s.destroy();
    } finally {
      onVm(
        vm2,
        "mv /root/hk.bak /etc/ssh/ssh_host_ed25519_key && mv /root/hk.pub.bak /etc/ssh/ssh_host_ed25519_key.pub && systemctl restart ssh",
        rotated,
      );
    }
    // The lab's pin answers again, and destroy put the value back.
    expect(runtime(vm2)).toBe(before);
  });

  it("a sudo password set after a failed up takes effect; no credential reaches the engine's logs or the state", async () => {
    onVm(
      vm1,
      "useradd -m pwuser && echo 'pwuser:e2e-sudo-pw' | chpasswd && install -d -m 700 -o pwuser ~pwuser/.ssh && " +
        "install -m 600 -o pwuser /root/.ssh/authorized_keys ~pwuser/.ssh/ && " +
        "echo 'pwuser ALL=(ALL) ALL' > /etc/sudoers.d/pwuser && chmod 440 /etc/sudoers.d/pwuser",
    );
    const s = await stack(
      "e2e-fault-sudo",
      fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm1], { user: "pwuser" }),
    );
    await expect(s.up()).rejects.toThrow(/sudo needs a password for pwuser/);
    await s.run(["config", "set", "--secret", "hosttune:sudoPassword", "e2e-sudo-pw"]);
    await s.up();
    expect(runtime(vm1)).toBe("noqueue");

    // The same stack with every credential given by reference (the key file, environment
    // variables of pulumi's process): a -v=9 preview and up log none of them, nor does state.
    // (Pulumi hands the whole stack config to the dynamic provider and logs it at -v=9, so a
    // secret kept in stack config would show there whatever hosttune does: see the README.)
    process.env.E2E_SUDO_PW = "e2e-sudo-pw";
    await s.run(["config", "rm", "hosttune:sudoPassword"]);
    await s.run(["config", "set", "--plaintext", "hosttune:sudoPasswordEnv", "E2E_SUDO_PW"]);
    await s.run(["config", "set", "--plaintext", "hosttune:passwordEnv", "E2E_SUDO_PW"]);
    // The engine keeps the stack config it last gave the dynamic provider in state (and logs
    // it as old inputs at -v=9): one update with the references replaces it.
    await s.up();
    onVm(vm1, "sysctl -q -w net.core.default_qdisc=fq");
    const verbose = ["-v=9", "--logtostderr", "--logflow"];
    const logs = [
      await s.run(["preview", ...verbose]),
      await s.run(["up", "--yes", "--skip-preview", ...verbose]),
      await s.run(["stack", "export", "--show-secrets"]),
    ].map((r) => r.stdout + r.stderr);
    expect(runtime(vm1)).toBe("noqueue");
    const keyLine = readFileSync(join(LAB_DIR, "id_ed25519"), "utf8").split("\n")[2];
    expect(keyLine.length).toBeGreaterThan(40);
    for (const text of logs) {
      expect(text.length).toBeGreaterThan(1000);
      expect(text).not.toContain("e2e-sudo-pw");
      expect(text).not.toContain(keyLine);
    }
    await s.destroy();
    expect({ runtime: runtime(vm1), file: file(vm1) }).toEqual(original);
  });
});
