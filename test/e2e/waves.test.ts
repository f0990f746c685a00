// Rollout in waves through the real CLI on the lab VMs: vm1 is the canary (wave 0), vm2 is
// wave 1. The tuning comes from a group and names a NIC that only vm2 has: the canary fails,
// the rollout stops, and vm2 is untouched. With the entry fixed (by driver), up converges vm1,
// then vm2; destroy puts both back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliStack as Stack, LabVm } from "./lab";
import { fleetConfig, labStack, labVms, onVm, upFailure } from "./lab";

const [vm1, vm2] = labVms();
// netdevsim device 21, port 1: made on vm2 only.
const NIC = "eni21np1";
const RULE = "85-hosttune-coalesce-netdevsim.rules";
const group = (entry: object) => ({ nsim: { tuning: { nicCoalescing: [entry] } } });
let stack: Stack;
const original: Record<string, string> = {};

/** What the tuning can touch on a VM: its udev rules and, on vm2, the NIC's coalescing. */
const state = (vm: LabVm) =>
  onVm(vm, `ls /etc/udev/rules.d; ethtool -c ${NIC} 2>/dev/null | grep -E '^(rx|tx)-usecs:' || true`);

beforeAll(async () => {
  onVm(vm2, "modprobe netdevsim && echo '21 1' > /sys/bus/netdevsim/new_device && udevadm settle");
  for (const vm of [vm1, vm2]) original[vm.name] = state(vm);
  stack = await labStack("e2e-waves", {
    ...fleetConfig({}, [vm1, vm2], { groups: ["nsim"] }),
    groups: group({ interface: NIC, settings: { "rx-usecs": 40 } }),
    rollout: { canary: ["vm1"] },
  });
});

afterAll(async () => {
  await stack?.remove();
  onVm(vm2, "echo 21 > /sys/bus/netdevsim/del_device 2>/dev/null; true");
});

describe("rollout in waves", () => {
  it("a canary whose change fails stops the rollout: the next wave's host is untouched", async () => {
    expect(await upFailure(stack)).toMatch(new RegExp(`interface ${NIC} does not exist`));
    expect(state(vm1)).toBe(original.vm1);
    expect(state(vm2)).toBe(original.vm2);
    // The engine skipped vm2's HostTuning and its resources: none is in the stack, vm1's is.
    const { deployment } = JSON.parse((await stack.run(["stack", "export"])).stdout);
    const urns: string[] = deployment.resources.map((r: { urn: string }) => r.urn);
    expect(urns).toContainEqual(expect.stringMatching(/HostTuning::vm1$/));
    expect(urns.filter((u) => u.includes("::vm2"))).toEqual([]);
  });

  it("with the entry fixed, up converges the canary, then the next wave", async () => {
    await stack.setAllConfig({ groups: group({ driver: "netdevsim", settings: { "rx-usecs": 40 } }) });
    const log = join(mkdtempSync(join(tmpdir(), "hosttune-waves-")), "events.jsonl");
    // The CLI offers --event-log only with PULUMI_DEBUG_COMMANDS.
    process.env.PULUMI_DEBUG_COMMANDS = "true";
    try {
      await stack.up({ args: ["--event-log", log] });
    } finally {
      delete process.env.PULUMI_DEBUG_COMMANDS;
    }
    for (const vm of [vm1, vm2]) expect(onVm(vm, "ls /etc/udev/rules.d")).toContain(RULE);
    expect(onVm(vm2, `ethtool -c ${NIC}`)).toMatch(/^rx-usecs:\s+40$/m);
    // vm2's change starts after vm1's is done (engine events, in order).
    const events = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const at = (kind: string, urn: string) =>
      events.find((e) => e[kind]?.metadata.op === "create" && e[kind].metadata.urn.endsWith(urn))?.sequence;
    const vm1Done = at("resOutputsEvent", "::vm1-coalesce-netdevsim");
    const vm2Start = at("resourcePreEvent", "::vm2-coalesce-netdevsim");
    expect(vm1Done).toBeTypeOf("number");
    expect(vm2Start).toBeGreaterThan(vm1Done);
  });

  it("destroy puts both hosts back", async () => {
    await stack.destroy();
    expect(state(vm1)).toBe(original.vm1);
    expect(state(vm2)).toBe(original.vm2);
  });
});
