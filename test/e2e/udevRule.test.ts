// UdevRule through the real CLI on the lab VMs: the domain's tap rule (noqueue on tap*),
// applied to an existing tap by a scoped trigger and to a new tap on add; drift; a rule udev
// rejects; destroy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, onVm, upFailure } from "./lab";

const vms = labVms();
const FILE = "/etc/udev/rules.d/90-tap.rules";
const TAP =
  'ACTION=="add|change", SUBSYSTEM=="net", KERNEL=="tap*", RUN+="/sbin/tc qdisc replace dev $env{INTERFACE} root handle 1000: noqueue"';
let stack: Stack;

const rootQdisc = (vm: (typeof vms)[number], dev: string) => {
  const q = (JSON.parse(onVm(vm, `tc -j qdisc show dev ${dev} root`)) as { kind: string; handle: string }[])[0];
  return q && `${q.kind} ${q.handle}`;
};

const defaultQdisc = (vm: (typeof vms)[number]) => onVm(vm, "sysctl -n net.core.default_qdisc").trim();

beforeAll(async () => {
  for (const vm of vms) onVm(vm, "ip tuntap add dev tapold mode tap && ip link set tapold up");
  stack = await labStack(
    "e2e-udev",
    fleetConfig({
      udevRules: [{ fileName: "90-tap.rules", content: TAP, trigger: { subsystem: "net", sysname: "tap*" } }],
    }),
  );
});

afterAll(async () => {
  await stack?.remove();
  for (const vm of vms) onVm(vm, "for t in tapold tapnew; do ip link del $t 2>/dev/null; done; true");
});

describe("UdevRule on the lab fleet", () => {
  it("up writes the rule; the scoped trigger gives the existing tap noqueue, the primary NIC keeps its qdisc", async () => {
    const primary = vms.map((vm) => rootQdisc(vm, "enp0s2"));
    for (const vm of vms) expect(rootQdisc(vm, "tapold")).toBe(`${defaultQdisc(vm)} 0:`);
    await stack.up();
    vms.forEach((vm, i) => {
      expect(onVm(vm, `cat ${FILE}`)).toBe(TAP + "\n");
      expect(rootQdisc(vm, "tapold")).toBe("noqueue 1000:");
      expect(rootQdisc(vm, "enp0s2")).toBe(primary[i]);
    });
    await stack.preview({ expectNoChanges: true });
  });

  it("a new tap gets noqueue on add", async () => {
    for (const vm of vms) {
      onVm(vm, "ip tuntap add dev tapnew mode tap && udevadm settle && ip link set tapnew up");
      expect(rootQdisc(vm, "tapnew")).toBe("noqueue 1000:");
    }
  });

  it("an edit by hand shows in a plain preview and up repairs it", async () => {
    const vm = vms[0];
    onVm(vm, `echo '# local edit' >> ${FILE}`);
    expect((await stack.preview()).changeSummary.update).toBe(1);
    await stack.up();
    expect(onVm(vm, `cat ${FILE}`)).toBe(TAP + "\n");
  });

  it("a rule udev rejects fails with udev's message and writes nothing", async () => {
    const vm = vms[0];
    const before = onVm(vm, "ls /etc/udev/rules.d");
    const s = await labStack(
      "e2e-udev-bad",
      fleetConfig({ udevRules: [{ fileName: "91-bad.rules", content: 'SUBSYSTEM=="net", FOO="bar"\n' }] }, [vm]),
    );
    expect(await upFailure(s)).toMatch(
      /udev rejects 91-bad\.rules; nothing was changed\. udev says: .*91-bad\.rules:1 Invalid key 'FOO'/,
    );
    expect(onVm(vm, "ls /etc/udev/rules.d")).toBe(before);
    await s.remove();
  });

  it("destroy removes the rule and reloads udev", async () => {
    await stack.destroy();
    for (const vm of vms) {
      expect(onVm(vm, `test -e ${FILE} && echo present || echo absent`).trim()).toBe("absent");
      onVm(vm, "ip link del tapnew && ip tuntap add dev tapnew mode tap && udevadm settle && ip link set tapnew up");
      expect(rootQdisc(vm, "tapnew")).toBe(`${defaultQdisc(vm)} 0:`);
    }
  });
});
