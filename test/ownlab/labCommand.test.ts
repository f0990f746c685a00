// README command 1 (`npm run lab`, i.e. scripts/lab.sh) run twice with `lab/lab.sh down` between:
// the second run meets a fresh VM while the stack remembers the converged one (everything the
// first run set is gone: drift, not an error) and converges it all the same (issue 8, item 10).
// Its own lab (one Debian 13 VM, its own dir, port and stack): the shared lab is not touched.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { LAB_PORT, onVm, REPO } from "../e2e/lab";

const STACK = "e2e-command1";
const env = {
  ...process.env,
  // State of its own: the shared lab's setup starts from an empty test-state.
  PULUMI_BACKEND_URL: `file://${join(REPO, ".hosttune", "test-state-command1")}`,
  PULUMI_CONFIG_PASSPHRASE: "hosttune-e2e",
  HOSTTUNE_LAB_DIR: join(REPO, ".lab", "test-command1"),
  HOSTTUNE_LAB_PORT: String(LAB_PORT + 20),
  HOSTTUNE_LAB_STACK: STACK,
  HOSTTUNE_LAB_VMS: "1",
  HOSTTUNE_LAB_RELEASES: "trixie",
};

/** A command of this repo, as a user runs it; its exit code and output (both streams). */
function sh(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(args[0], args.slice(1), { cwd: REPO, env });
    const out: Buffer[] = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => out.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, out: Buffer.concat(out).toString() }));
  });
}

const onLabVm = (cmd: string) =>
  onVm(
    { port: LAB_PORT + 20 },
    cmd,
    join(env.HOSTTUNE_LAB_DIR, "known_hosts"),
    join(env.HOSTTUNE_LAB_DIR, "id_ed25519"),
  );

afterAll(async () => {
  await sh("lab/lab.sh", "down");
  await sh("bin/pulumi", "stack", "rm", "--yes", "--force", "--stack", STACK, "--non-interactive");
  rmSync(join(REPO, "stacks", `Pulumi.${STACK}.yaml`), { force: true });
  rmSync(env.HOSTTUNE_LAB_DIR, { recursive: true, force: true });
  rmSync(join(REPO, ".hosttune", "test-state-command1"), { recursive: true, force: true });
});

/** Runs command 1; it must succeed, and then the VM is as the lab's tuning asks. */
async function command1(): Promise<string> {
  const r = await sh("scripts/lab.sh");
  expect(r.code, r.out).toBe(0);
  expect(r.out).toMatch(/lab: converged\./);
  expect(onLabVm("sysctl -n net.core.default_qdisc").trim()).toBe("noqueue");
  expect(onLabVm("ip -br link show type vrf")).toMatch(/^mgmt\s/);
  expect(onLabVm("ip vrf identify $(systemctl show -p MainPID --value ssh.service)").trim()).toBe("mgmt");
  return r.out;
}

it("command 1 converges a fresh lab, and again after lab/lab.sh down and fresh VMs the stack has not seen", async () => {
  await sh("lab/lab.sh", "down");
  const first = await command1();
  expect(first).toMatch(/\+ +\d+ created/);
  expect((await sh("bin/pulumi", "preview", "--stack", STACK, "--expect-no-changes", "--non-interactive")).code).toBe(
    0,
  );

  expect((await sh("lab/lab.sh", "down")).code).toBe(0);
  const second = await command1();
  // The fresh VM had none of it: updated (not failed, not replaced).
  expect(second).toMatch(/~ +\d+ updated/);
  expect(second).not.toMatch(/error:|failed/i);
  expect((await sh("bin/pulumi", "preview", "--stack", STACK, "--expect-no-changes", "--non-interactive")).code).toBe(
    0,
  );
});
