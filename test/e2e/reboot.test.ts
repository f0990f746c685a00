// Persistence across a reboot, for every resource at once (one reboot of every VM, in parallel:
// one per Debian release), with all six kinds on each VM; a read-only deployment (preview) opens
// exactly one SSH connection per VM. (An up with a ManagementVrf change opens fresh ones on
// purpose, to confirm it.) After the reboot the local rule follows l3mdev for IPv4 and IPv6 and
// loopback works from the default VRF (issue 11: networkd deleted a rule it did not own).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, handshakesPerDeployment, labStack, labVms, onVm, onVmAsync, rebootVm, sshLog } from "./lab";

const vms = labVms();
type Vm = (typeof vms)[number];
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
const original: Record<string, string> = {};

// (Not the tap's qdisc: what a removed udev rule's RUN did to an existing device stays; a new
// tap gets the default again, which udevRule.test.ts checks.)
const snapshot = (vm: Vm) =>
  onVm(
    vm,
    "sysctl -n net.core.default_qdisc net.ipv4.tcp_l3mdev_accept; ls /etc/sysctl.d /etc/udev/rules.d /etc/systemd/network; " +
      "ethtool -c enp0s3 | grep ^rx-usecs:; ethtool -c eni21np1 | grep -E '^(rx|tx)-usecs:'; " +
      "ip -br link | awk '{print $1}' | sort; ip route; ip rule | grep -v l3mdev; " +
      "ip -6 rule | grep -v l3mdev; grep -o '\\[[^]]*\\]' /sys/block/sd*/queue/scheduler",
  );

beforeAll(async () => {
  for (const vm of vms) {
    await onVmAsync(
      vm,
      `echo ${Buffer.from(BOOT_DEVICES).toString("base64")} | base64 -d > /etc/systemd/system/lab-boot-devices.service && ` +
        `systemctl daemon-reload && systemctl enable --now lab-boot-devices.service && udevadm settle`,
    );
    await onVmAsync(
      vm,
      `echo ${Buffer.from(AGENT_UNIT).toString("base64")} | base64 -d > /etc/systemd/system/${AGENT} && ` +
        `systemctl daemon-reload && systemctl enable --now ${AGENT}`,
    );
    original[vm.name] = snapshot(vm);
  }
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
  for (const vm of vms)
    await onVmAsync(
      vm,
      `systemctl disable --now lab-boot-devices.service ${AGENT}; rm -f /etc/systemd/system/lab-boot-devices.service /etc/systemd/system/${AGENT}; ` +
        `systemctl daemon-reload; ip link del tapboot; echo 21 > /sys/bus/netdevsim/del_device; true`,
    );
});

/** `ip rule` without protocol annotations (networkd's rules say `proto static`). */
const rules = (vm: Vm, family: "-4" | "-6") => onVm(vm, `ip ${family} rule`).replace(/ proto \S+/g, "");

function expectTuned(vm: Vm) {
  expect(onVm(vm, "sysctl -n net.core.default_qdisc").trim()).toBe("fq");
  // (ethtool 6.1 separates with a space, 6.14 with tabs)
  expect(onVm(vm, "ethtool -c enp0s3")).toMatch(/^rx-usecs:\s+90$/m);
  expect(onVm(vm, "ethtool -c eni21np1")).toMatch(/^rx-usecs:\s+40$[\s\S]*^tx-usecs:\s+120$/m);
  expect(JSON.parse(onVm(vm, "tc -j qdisc show dev tapboot root"))[0]).toMatchObject({
    kind: "noqueue",
    handle: "1000:",
  });
  expect(onVm(vm, "cat /sys/block/sd*/queue/scheduler")).toMatch(/\[bfq\]/);
  expect(onVm(vm, "ip route show vrf mgmt default")).toMatch(/default via 10\.0\.2\.2 dev enp0s2/);
  for (const family of ["-4", "-6"] as const) {
    // l3mdev first, then the local table, and no local lookup before l3mdev.
    expect(rules(vm, family), `${vm.name} (${vm.release}) ip ${family} rule`).toMatch(
      /^1000:\s+from all lookup \[l3mdev-table\]\n32765:\s+from all lookup local\n/m,
    );
    expect(rules(vm, family)).not.toMatch(/^0:/m);
  }
  // Loopback from the default VRF (broken when no rule looks up the local table).
  expect(onVm(vm, "ping -c1 -W2 127.0.0.1 >/dev/null && ping -6 -c1 -W2 ::1 >/dev/null && echo ok").trim()).toBe("ok");
  expect(onVm(vm, `ip vrf identify $(systemctl show -p MainPID --value ${AGENT})`).trim()).toBe("mgmt");
}

describe("after a reboot", () => {
  it("up converges all six kinds on every VM", async () => {
    await stack.up();
    for (const vm of vms) expectTuned(vm);
  });

  it("the VMs come back (reachable over SSH through the VRF) with every setting in place and nothing to change", async () => {
    await Promise.all(vms.map((vm) => rebootVm(vm)));
    for (const vm of vms) {
      onVm(vm, "udevadm settle");
      expectTuned(vm);
    }
    const log = sshLog();
    await stack.preview({ expectNoChanges: true });
    const per = handshakesPerDeployment(log());
    expect(
      Object.values(per).every((n) => n === 1),
      JSON.stringify(per),
    ).toBe(true);
    expect(new Set(log().map((e) => e.port))).toEqual(new Set(vms.map((v) => v.port)));
  });

  it("a local rule deleted by hand (IPv4 on one VM, IPv6 on the other) is drift, and up puts it back", async () => {
    vms.forEach((vm, i) => onVm(vm, `ip ${i % 2 ? "-6" : "-4"} rule del pref 32765 table local`));
    const p = (await stack.run(["preview", "--diff"])).stdout;
    expect(p).toMatch(new RegExp(`~ ${vms.length} to update`));
    for (const vm of vms)
      expect(p).toMatch(new RegExp(`ManagementVrf: \\(update\\)\\n.*\\n.*ManagementVrf::${vm.name}-vrf-mgmt\\]`));
    expect(p).toMatch(
      /IPv4 rules: asked \\"l3mdev, lookup local after l3mdev \(32765\), none before\\", got \[\\"1000: l3mdev\\"\]/,
    );
    if (vms.length > 1) expect(p).toMatch(/IPv6 rules: asked/);
    await stack.up();
    for (const vm of vms) expectTuned(vm);
    await stack.preview({ expectNoChanges: true });
  });

  it("destroy restores what the VMs had", async () => {
    await stack.destroy();
    for (const vm of vms) expect(snapshot(vm), `${vm.name} (${vm.release})`).toBe(original[vm.name]);
  });
});
