// DefaultQdisc through the real Pulumi CLI on the lab VMs: up, no-op preview, drift shown by
// a plain preview, repair, destroy restoring the original state, one SSH connection per VM per
// deployment, and sudo for a non-root user.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, handshakesPerDeployment, LAB_DIR, labStack, labVms, onVm, sshLog, STATE_DIR } from "./lab";

const FILE = "/etc/sysctl.d/90-hosttune-default-qdisc.conf";
const vms = labVms();
let stack: Stack;
const original: Record<string, { runtime: string; files: string }> = {};

function qdiscState(vm: (typeof vms)[number]) {
  return {
    runtime: onVm(vm, "sysctl -n net.core.default_qdisc").trim(),
    file: onVm(vm, `cat ${FILE} 2>/dev/null || echo ABSENT`),
    tap: JSON.parse(onVm(vm, "tc -j qdisc show dev tap-e2e"))[0]?.kind as string | undefined,
  };
}

function expectOneConnectionPerVm(log: ReturnType<ReturnType<typeof sshLog>>) {
  const per = handshakesPerDeployment(log);
  expect(Object.keys(per).length).toBeGreaterThan(0);
  for (const [key, n] of Object.entries(per)) expect(n, `handshakes by plugin:port ${key}`).toBe(1);
  // Every VM was reached by every deployment (plugin process) that ran.
  const pids = new Set(log.map((e) => e.pid));
  for (const pid of pids)
    expect(new Set(log.filter((e) => e.pid === pid).map((e) => e.port))).toEqual(new Set(vms.map((v) => v.port)));
}

beforeAll(async () => {
  for (const vm of vms) {
    // An existing, up tap device with the old default: reapplyTo must convert it.
    onVm(vm, "ip tuntap add dev tap-e2e mode tap && ip link set tap-e2e up");
    original[vm.name] = {
      runtime: onVm(vm, "sysctl -n net.core.default_qdisc").trim(),
      files: onVm(vm, "ls /etc/sysctl.d"),
    };
  }
  const config = fleetConfig({ defaultQdisc: { qdisc: "noqueue", reapplyTo: "tap-*" } });
  // The last VM is reached as a non-root user with passwordless sudo.
  config.hosts[config.hosts.length - 1].user = "tuner";
  stack = await labStack("e2e-qdisc", config);
});

afterAll(async () => {
  await stack?.remove();
  for (const vm of vms) onVm(vm, "ip link del tap-e2e 2>/dev/null; true");
});

describe("DefaultQdisc on the lab fleet", () => {
  it("up sets the value at runtime, in the file, and on existing matched devices, with one SSH connection per VM per deployment", async () => {
    for (const vm of vms)
      expect(qdiscState(vm)).toMatchObject({ runtime: "fq_codel", file: "ABSENT\n", tap: "fq_codel" });
    const log = sshLog();
    const r = await stack.up();
    // A HostTuning and its DefaultQdisc per VM, + the stack and hosttune's provider.
    expect(r.summary.resourceChanges).toMatchObject({ create: 2 * vms.length + 2 });
    for (const vm of vms)
      expect(qdiscState(vm)).toEqual({
        runtime: "noqueue",
        file: "# Managed by hosttune (DefaultQdisc): the root qdisc that new network devices get.\nnet.core.default_qdisc = noqueue\n",
        tap: "noqueue",
      });
    expectOneConnectionPerVm(log());
  });

  it("a second preview expects no changes", async () => {
    const log = sshLog();
    await stack.preview({ expectNoChanges: true });
    expectOneConnectionPerVm(log());
  });

  it("a change by hand on one VM shows in a plain preview, and up repairs it", async () => {
    const [vm] = vms.slice(-1);
    onVm(vm, "sysctl -q -w net.core.default_qdisc=fq");
    const log = sshLog();
    const p = await stack.preview();
    // The stack, hosttune's provider, every HostTuning and the other VMs' DefaultQdisc are the same.
    expect(p.changeSummary).toMatchObject({ update: 1, same: 2 * vms.length + 1 });
    expectOneConnectionPerVm(log());
    const r = await stack.up();
    expect(r.summary.resourceChanges).toMatchObject({ update: 1 });
    expect(qdiscState(vm).runtime).toBe("noqueue");
    await stack.preview({ expectNoChanges: true });
  });

  it("keeps the private key out of state in plain text", async () => {
    const key = readFileSync(join(LAB_DIR, "id_ed25519"), "utf8").split("\n")[1];
    const dir = join(STATE_DIR, ".pulumi", "stacks", "hosttune");
    const files = readdirSync(dir).filter((f) => f.startsWith(stack.name) && f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const text = readFileSync(join(dir, f), "utf8");
      expect(text).not.toContain(key);
      expect(text).toContain("ciphertext");
    }
  });

  it("destroy restores the original value and files", async () => {
    await stack.destroy();
    for (const vm of vms) {
      expect(onVm(vm, "sysctl -n net.core.default_qdisc").trim()).toBe(original[vm.name].runtime);
      expect(onVm(vm, "ls /etc/sysctl.d")).toBe(original[vm.name].files);
      expect(qdiscState(vm).tap).toBe("fq_codel");
    }
  });
});
