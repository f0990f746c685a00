// Persistence across a reboot, for every resource at once (one reboot, of the first VM), with
// several resources per VM: each deployment still opens exactly one SSH connection per VM.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "@pulumi/pulumi/automation";
import { fleetConfig, handshakesPerDeployment, labStack, labVms, onVm, rebootVm, sshLog } from "./lab";

const vms = labVms();
const [vm] = vms;
const TAP = 'ACTION=="add|change", SUBSYSTEM=="net", KERNEL=="tap*", RUN+="/sbin/tc qdisc replace dev $env{INTERFACE} root handle 1000: noqueue"';
// Devices that exist from boot on, as hardware and VM taps would: created by a unit at boot.
const BOOT_DEVICES = `[Unit]
Description=lab devices present at boot (netdevsim NIC, a tap)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'modprobe netdevsim && echo "21 1" > /sys/bus/netdevsim/new_device && ip tuntap add dev tapboot mode tap && ip link set tapboot up'
[Install]
WantedBy=multi-user.target
`;
let stack: Stack;
let original: string;

// (Not the tap's qdisc: what a removed udev rule's RUN did to an existing device stays; a new
// tap gets the default again, which udevRule.test.ts checks.)
const snapshot = () =>
  onVm(vm, "sysctl -n net.core.default_qdisc; ls /etc/sysctl.d /etc/udev/rules.d; ethtool -c enp0s3 | grep ^rx-usecs:; ethtool -c eni21np1 | grep -E '^(rx|tx)-usecs:'");

beforeAll(async () => {
  onVm(vm, `echo ${Buffer.from(BOOT_DEVICES).toString("base64")} | base64 -d > /etc/systemd/system/lab-boot-devices.service && systemctl daemon-reload && systemctl enable --now lab-boot-devices.service && udevadm settle`);
  original = snapshot();
  stack = await labStack(
    "e2e-reboot",
    fleetConfig({
      defaultQdisc: { qdisc: "fq" },
      nicCoalescing: [
        { driver: "netdevsim", settings: { "rx-usecs": 40, "tx-usecs": 120 } },
        { interface: "enp0s3", settings: { "rx-usecs": 90 } },
      ],
      udevRules: [{ fileName: "90-tap.rules", content: TAP, trigger: { subsystem: "net", sysname: "tap*" } }],
    }),
  );
});

afterAll(async () => {
  await stack?.workspace.removeStack(stack.name, { force: true }).catch(() => {});
  onVm(vm, "systemctl disable --now lab-boot-devices.service; rm -f /etc/systemd/system/lab-boot-devices.service; systemctl daemon-reload; ip link del tapboot; echo 21 > /sys/bus/netdevsim/del_device; true");
});

function expectTuned() {
  expect(onVm(vm, "sysctl -n net.core.default_qdisc").trim()).toBe("fq");
  expect(onVm(vm, "ethtool -c enp0s3")).toMatch(/^rx-usecs: 90$/m);
  expect(onVm(vm, "ethtool -c eni21np1")).toMatch(/^rx-usecs: 40$[\s\S]*^tx-usecs: 120$/m);
  expect(JSON.parse(onVm(vm, "tc -j qdisc show dev tapboot root"))[0]).toMatchObject({ kind: "noqueue", handle: "1000:" });
}

describe("after a reboot", () => {
  it("up converges four resources per VM over one SSH connection per VM per deployment", async () => {
    const log = sshLog();
    await stack.up({ color: "never" });
    const per = handshakesPerDeployment(log());
    expect(Object.values(per).every((n) => n === 1), JSON.stringify(per)).toBe(true);
    expect(new Set(log().map((e) => e.port))).toEqual(new Set(vms.map((v) => v.port)));
    expectTuned();
  });

  it("the VM comes back with every setting in place and nothing to change", async () => {
    await rebootVm(vm);
    onVm(vm, "udevadm settle");
    expectTuned();
    await stack.preview({ expectNoChanges: true, color: "never" });
  });

  it("destroy restores what the VM had", async () => {
    await stack.destroy({ color: "never" });
    expect(snapshot()).toBe(original);
  });
});
