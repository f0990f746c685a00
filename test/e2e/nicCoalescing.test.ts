// NicCoalescing through the real CLI on the lab VMs: netdevsim NICs (full coalescing, and CQE
// mode that is accepted but not kept) and the emulated e1000e (only rx-usecs settable).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, onVm, upFailure } from "./lab";

const vms = labVms();
const RULES = "ls /etc/udev/rules.d";
let stack: Stack;
const original: Record<string, { nsim: string; e1000e: string; rules: string }> = {};

const coalesce = (vm: (typeof vms)[number], dev: string) => onVm(vm, `ethtool -c ${dev}`);
// ethtool 6.1 (Debian 12) separates with a space, 6.14 (Debian 13) with tabs.
const value = (text: string, key: string) => new RegExp(`^${key}:\\s+(\\S+)$`, "m").exec(text)?.[1];

const TUNING = {
  nicCoalescing: [
    {
      driver: "netdevsim",
      // rx-frames-low/high: ethtool prints them as rx-frame-low/high (text, and 6.14's JSON).
      settings: {
        "rx-usecs": 50,
        "tx-usecs": 150,
        "tx-frames": 128,
        "adaptive-rx": false,
        "rx-frames-low": 8,
        "rx-frames-high": 64,
      },
    },
    { interface: "enp0s3", settings: { "rx-usecs": 100 } },
  ],
};

beforeAll(async () => {
  for (const vm of vms) {
    onVm(vm, "modprobe netdevsim && echo '11 1' > /sys/bus/netdevsim/new_device && udevadm settle");
    original[vm.name] = { nsim: coalesce(vm, "eni11np1"), e1000e: coalesce(vm, "enp0s3"), rules: onVm(vm, RULES) };
  }
  stack = await labStack("e2e-coalesce", fleetConfig(TUNING));
});

afterAll(async () => {
  await stack?.remove();
  for (const vm of vms) onVm(vm, "for i in 11 12; do echo $i > /sys/bus/netdevsim/del_device 2>/dev/null; done; true");
});

describe("NicCoalescing on the lab fleet", () => {
  it("up sets the given parameters on every matched NIC and writes the udev rules", async () => {
    await stack.up();
    for (const vm of vms) {
      const nsim = coalesce(vm, "eni11np1");
      expect(
        ["rx-usecs", "tx-usecs", "tx-frames", "rx-frame-low", "rx-frame-high"].map((k) => value(nsim, k)),
        `${vm.name} (${vm.release})`,
      ).toEqual(["50", "150", "128", "8", "64"]);
      expect(value(coalesce(vm, "enp0s3"), "rx-usecs")).toBe("100");
      expect(onVm(vm, RULES)).toMatch(/85-hosttune-coalesce-enp0s3\.rules[\s\S]*85-hosttune-coalesce-netdevsim\.rules/);
    }
    await stack.preview({ expectNoChanges: true });
  });

  it("drift by hand shows in a plain preview and up repairs it", async () => {
    const vm = vms[vms.length - 1];
    onVm(vm, "ethtool -C eni11np1 rx-usecs 7");
    const p = await stack.preview();
    expect(p.changeSummary.update).toBe(1);
    await stack.up();
    expect(value(coalesce(vm, "eni11np1"), "rx-usecs")).toBe("50");
  });

  it("a NIC that appears later (hotplug, driver reload) gets the settings from the udev rule", async () => {
    const vm = vms[0];
    onVm(vm, "echo '12 1' > /sys/bus/netdevsim/new_device && udevadm settle");
    expect(value(coalesce(vm, "eni12np1"), "rx-usecs")).toBe("50");
    expect(value(coalesce(vm, "eni12np1"), "tx-frames")).toBe("128");
    await stack.preview({ expectNoChanges: true });
  });

  it("destroy restores the recorded values and removes the rules", async () => {
    await stack.destroy();
    for (const vm of vms) {
      expect(coalesce(vm, "eni11np1")).toBe(original[vm.name].nsim);
      expect(coalesce(vm, "enp0s3")).toBe(original[vm.name].e1000e);
      expect(onVm(vm, RULES)).toBe(original[vm.name].rules);
    }
  });
});

describe("NicCoalescing failures leave the host unchanged", () => {
  const vm = vms[0];
  const state = () => [coalesce(vm, "eni11np1"), coalesce(vm, "enp0s3"), onVm(vm, RULES)];

  it("a parameter the driver does not support (e1000e tx-usecs) is refused before any change", async () => {
    const before = state();
    const s = await labStack(
      "e2e-coalesce-unsupported",
      fleetConfig({ nicCoalescing: [{ interface: "enp0s3", settings: { "rx-usecs": 60, "tx-usecs": 10 } }] }, [vm]),
    );
    expect(await upFailure(s)).toMatch(/enp0s3 \(driver e1000e\) does not support coalescing parameter tx-usecs/);
    expect(state()).toEqual(before);
    await s.remove();
  });

  it("a value the driver accepts but does not keep (netdevsim cqe-mode-rx) fails with asked vs got, and is rolled back", async () => {
    const before = state();
    const s = await labStack(
      "e2e-coalesce-ignored",
      fleetConfig({ nicCoalescing: [{ driver: "netdevsim", settings: { "rx-usecs": 33, "cqe-mode-rx": true } }] }, [
        vm,
      ]),
    );
    const msg = await upFailure(s);
    expect(msg).toMatch(/eni11np1 \(driver netdevsim\) cqe-mode-rx: asked true, got false/);
    expect(msg).toMatch(/rolled back/);
    expect(state()).toEqual(before);
    await s.remove();
  });
});
