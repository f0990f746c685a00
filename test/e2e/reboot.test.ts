// Persistence across a reboot, for every resource at once (one reboot, of the first VM), with
// all six kinds on each VM; a read-only deployment (preview) opens exactly one SSH connection
// per VM. (An up with a ManagementVrf change opens fresh ones on purpose, to confirm it.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, handshakesPerDeployment, labStack, labVms, onVm, rebootVm, sshLog } from "./lab";

const vms = labVms();
const [vm] = vms;
const TAP =
  'ACTION=="add|change", SUBSYSTEM=="net", KERNEL=="tap*", RUN+="/sbin/tc qdisc replace dev $env{INTERFACE} root handle 1000: noqueue"';
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
const AGENT = "hosttune-e2e-boot-agent.service";
const AGENT_UNIT = `[Unit]\nDescription=hosttune e2e agent started at boot\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n`;
let stack: Stack;
let original: string;

// (Not the tap's qdisc: what a removed udev rule's RUN did to an existing device stays; a new
// tap gets the default again, which udevRule.test.ts checks.)
const snapshot = () =>
  onVm(
    vm,
    "sysctl -n net.core.default_qdisc net.ipv4.tcp_l3mdev_accept; ls /etc/sysctl.d /etc/udev/rules.d /etc/systemd/network; ethtool -c enp0s3 | grep ^rx-usecs:; ethtool -c eni21np1 | grep -E '^(rx|tx)-usecs:'; ip -br link | awk '{print $1}'; ip route; ip rule | grep -v l3mdev; grep -o '\\[[^]]*\\]' /sys/block/sd*/queue/scheduler",
  );

beforeAll(async () => {
  onVm(
    vm,
    `echo ${Buffer.from(BOOT_DEVICES).toString("base64")} | base64 -d > /etc/systemd/system/lab-boot-devices.service && systemctl daemon-reload && systemctl enable --now lab-boot-devices.service && udevadm settle`,
  );
  for (const v of vms)
    onVm(
      v,
      `echo ${Buffer.from(AGENT_UNIT).toString("base64")} | base64 -d > /etc/systemd/system/${AGENT} && systemctl daemon-reload && systemctl enable --now ${AGENT}`,
    );
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
      bfqScheduler: [{ match: "sd*", rotational: true }],
      managementVrf: { interfaces: ["enp0s2"] },
      vrfBoundUnits: [{ unit: AGENT, vrf: "mgmt" }],
    }),
  );
});

afterAll(async () => {
  await stack?.remove();
  onVm(
    vm,
    "systemctl disable --now lab-boot-devices.service; rm -f /etc/systemd/system/lab-boot-devices.service; systemctl daemon-reload; ip link del tapboot; echo 21 > /sys/bus/netdevsim/del_device; true",
  );
  for (const v of vms)
    onVm(v, `systemctl disable --now ${AGENT}; rm -f /etc/systemd/system/${AGENT}; systemctl daemon-reload; true`);
});

function expectTuned() {
  expect(onVm(vm, "sysctl -n net.core.default_qdisc").trim()).toBe("fq");
  expect(onVm(vm, "ethtool -c enp0s3")).toMatch(/^rx-usecs: 90$/m);
  expect(onVm(vm, "ethtool -c eni21np1")).toMatch(/^rx-usecs: 40$[\s\S]*^tx-usecs: 120$/m);
  expect(JSON.parse(onVm(vm, "tc -j qdisc show dev tapboot root"))[0]).toMatchObject({
    kind: "noqueue",
    handle: "1000:",
  });
  expect(onVm(vm, "cat /sys/block/sd*/queue/scheduler")).toMatch(/\[bfq\]/);
  expect(onVm(vm, "ip route show vrf mgmt default")).toMatch(/default via 10\.0\.2\.2 dev enp0s2/);
  expect(onVm(vm, "ip rule")).toMatch(/^32765:\s+from all lookup local/m);
  expect(onVm(vm, `ip vrf identify $(systemctl show -p MainPID --value ${AGENT})`).trim()).toBe("mgmt");
}

describe("after a reboot", () => {
  it("up converges all six kinds on every VM", async () => {
    await stack.up();
    expectTuned();
  });

  it("the VM comes back (reachable over SSH through the VRF) with every setting in place and nothing to change", async () => {
    await rebootVm(vm);
    onVm(vm, "udevadm settle");
    expectTuned();
    const log = sshLog();
    await stack.preview({ expectNoChanges: true });
    const per = handshakesPerDeployment(log());
    expect(
      Object.values(per).every((n) => n === 1),
      JSON.stringify(per),
    ).toBe(true);
    expect(new Set(log().map((e) => e.port))).toEqual(new Set(vms.map((v) => v.port)));
  });

  it("destroy restores what the VM had", async () => {
    await stack.destroy();
    expect(snapshot()).toBe(original);
  });
});
