// BfqScheduler through the real CLI: the lab VMs have a rotational AHCI disk and a
// non-rotational SCSI disk (names may swap between boots), so selection by property is real.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, onVm } from "./lab";

const vms = labVms();
let stack: Stack;
const RULE = "/etc/udev/rules.d/60-hosttune-bfq-sd_.rules";

/** sd* disks by rotational flag: { rotational: "sda", solid: "sdb" } (names can swap). */
function disks(vm: (typeof vms)[number]) {
  const lines = onVm(
    vm,
    "for b in /sys/block/sd*; do echo $(basename $b) $(cat $b/queue/rotational) $(cat $b/queue/scheduler); done",
  )
    .trim()
    .split("\n");
  const by = Object.fromEntries(
    lines
      .map((l) => l.split(" "))
      .map(([n, rot, ...s]) => [
        rot === "1" ? "rotational" : "solid",
        { name: n, scheduler: /\[(\S+)\]/.exec(s.join(" "))![1] },
      ]),
  );
  return by as Record<"rotational" | "solid", { name: string; scheduler: string }>;
}
const original: Record<string, ReturnType<typeof disks>> = {};

beforeAll(async () => {
  for (const vm of vms) original[vm.name] = disks(vm);
  stack = await labStack("e2e-bfq", fleetConfig({ bfqScheduler: [{ match: "sd*", rotational: true }] }));
});

afterAll(async () => {
  await stack?.remove();
});

describe("BfqScheduler on the lab fleet", () => {
  it("up selects bfq for the rotational sd disk only, at runtime and in a udev rule", async () => {
    await stack.up();
    for (const vm of vms) {
      const d = disks(vm);
      expect(d.rotational.scheduler).toBe("bfq");
      expect(d.solid.scheduler).toBe(original[vm.name].solid.scheduler);
      expect(onVm(vm, `cat ${RULE}`)).toMatch(
        /KERNEL=="sd\*", ATTR\{queue\/rotational\}=="1", ATTR\{queue\/scheduler\}="bfq"/,
      );
    }
    await stack.preview({ expectNoChanges: true });
  });

  it("the udev rule selects bfq again on a change event, and drift by hand shows in preview", async () => {
    const vm = vms[0];
    const dev = disks(vm).rotational.name;
    onVm(vm, `echo mq-deadline > /sys/block/${dev}/queue/scheduler`);
    expect((await stack.preview()).changeSummary.update).toBe(1);
    onVm(vm, `udevadm trigger --action=change /sys/block/${dev} && udevadm settle`);
    expect(disks(vm).rotational.scheduler).toBe("bfq");
    await stack.preview({ expectNoChanges: true });
  });

  it("destroy restores each disk's scheduler and removes the rule", async () => {
    await stack.destroy();
    for (const vm of vms) {
      const d = disks(vm);
      expect(d.rotational.scheduler).toBe(original[vm.name].rotational.scheduler);
      expect(onVm(vm, `test -e ${RULE} && echo present || echo absent`).trim()).toBe("absent");
    }
  });
});
