// Per-environment stacks: two stacks of the same program with different values and their own
// VMs; each stack's preview and up touch only its own hosts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, onVm, sshLog } from "./lab";

const [vm1, vm2] = labVms();
let lab: Stack;
let staging: Stack;

beforeAll(async () => {
  lab = await labStack("e2e-env-lab", fleetConfig({ defaultQdisc: { qdisc: "noqueue" } }, [vm1]));
  staging = await labStack("e2e-env-staging", fleetConfig({ defaultQdisc: { qdisc: "fq" } }, [vm2]));
});

afterAll(async () => {
  for (const s of [lab, staging]) {
    await s?.destroy().catch(() => {});
    await s?.remove();
  }
});

describe("two environments from one program", () => {
  it("each converges its own VM to its own values", async () => {
    await lab.up();
    await staging.up();
    expect(onVm(vm1, "sysctl -n net.core.default_qdisc").trim()).toBe("noqueue");
    expect(onVm(vm2, "sysctl -n net.core.default_qdisc").trim()).toBe("fq");
  });

  it("each stack's preview connects only to its own hosts", async () => {
    for (const [s, vm] of [
      [lab, vm1],
      [staging, vm2],
    ] as const) {
      const log = sshLog();
      await s.preview({ expectNoChanges: true });
      expect(new Set(log().map((e) => e.port))).toEqual(new Set([vm.port]));
    }
  });
});
