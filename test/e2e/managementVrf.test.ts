// ManagementVrf through the real CLI, moving the very interface our SSH sessions use
// (enp0s2) into the VRF: commit-confirmed over a fresh connection, a deliberately broken change
// rolled back by the host itself, drift, a VRF-bound service ordered after the VRF, destroy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, netState, onVm, upFailure } from "./lab";

const vms = labVms();
const UNIT = "hosttune-e2e-mgmt-agent.service";
const SERVICE = `[Unit]\nDescription=hosttune e2e agent\n[Service]\nExecStart=/bin/sleep infinity\n`;
let stack: Stack;
const original: Record<string, string> = {};

beforeAll(async () => {
  for (const vm of vms) {
    onVm(
      vm,
      `echo ${Buffer.from(SERVICE).toString("base64")} | base64 -d > /etc/systemd/system/${UNIT} && systemctl daemon-reload && systemctl start ${UNIT}`,
    );
    original[vm.name] = netState(vm);
  }
  stack = await labStack(
    "e2e-vrf",
    fleetConfig({
      // The lab's resolved has no upstream servers (isolated network): name one.
      managementVrf: {
        name: "mgmt",
        table: 1000,
        interfaces: ["enp0s2"],
        confirmTimeout: 60,
        resolver: "disableResolved",
        nameservers: ["10.0.2.3"],
      },
      vrfBoundUnits: [{ unit: UNIT, vrf: "mgmt" }],
    }),
  );
});

afterAll(async () => {
  await stack?.remove();
  for (const vm of vms)
    onVm(vm, `systemctl stop ${UNIT}; rm -f /etc/systemd/system/${UNIT}; systemctl daemon-reload; true`);
});

describe("ManagementVrf on the lab fleet", () => {
  it("a change that cuts SSH (no l3mdev accept for sshd) is rolled back by the host, with a clear error", async () => {
    const vm = vms[vms.length - 1];
    const s = await labStack(
      "e2e-vrf-broken",
      fleetConfig({ managementVrf: { interfaces: ["enp0s2"], l3mdevAccept: { tcp: false }, confirmTimeout: 30 } }, [
        vm,
      ]),
    );
    const msg = await upFailure(s);
    expect(msg).toMatch(
      /no fresh SSH connection could confirm the change within 30s, so the host rolled it back by itself\./,
    );
    expect(netState(vm)).toBe(original[vm.name]);
    await s.remove();
  });

  it("up moves enp0s2 and its default route into the VRF, keeps SSH, and runs the bound service inside it", async () => {
    await stack.up();
    for (const vm of vms) {
      expect(onVm(vm, "ip -j -d link show dev mgmt")).toMatch(/"info_kind":"vrf".*"table":1000/);
      expect(onVm(vm, "ip -j link show master mgmt")).toMatch(/"ifname":"enp0s2"/);
      expect(onVm(vm, "ip route show vrf mgmt default")).toMatch(/default via 10\.0\.2\.2 dev enp0s2/);
      expect(onVm(vm, "ip route show default").trim()).toBe("");
      for (const family of ["-4", "-6"])
        expect(onVm(vm, `ip ${family} rule`), `${vm.name} (${vm.release})`).toMatch(
          /^1000:\s+from all lookup \[l3mdev-table\]\n32765:\s+from all lookup local proto static\n/m,
        );
      expect(onVm(vm, "ip -br addr show dev mgmt")).toMatch(/127\.0\.0\.1\/8 ::1\/128/);
      expect(onVm(vm, `ip vrf identify $(systemctl show -p MainPID --value ${UNIT})`).trim()).toBe("mgmt");
      expect(onVm(vm, "systemctl is-active systemd-resolved || true").trim()).toBe("inactive");
      expect(onVm(vm, "test -L /etc/resolv.conf && echo link || cat /etc/resolv.conf")).toMatch(
        /^nameserver 10\.0\.2\.3$/m,
      );
    }
    await stack.preview({ expectNoChanges: true });
  });

  it("drift by hand shows in a plain preview and up repairs it", async () => {
    const vm = vms[0];
    onVm(vm, "sysctl -qw net.ipv4.udp_l3mdev_accept=0");
    expect((await stack.preview()).changeSummary.update).toBe(1);
    await stack.up();
    expect(onVm(vm, "sysctl -n net.ipv4.udp_l3mdev_accept").trim()).toBe("1");
  });

  it("destroy restores routes, rules, interfaces, sysctls, files and the resolver, and the service leaves the VRF", async () => {
    await stack.destroy();
    for (const vm of vms) {
      expect(netState(vm)).toBe(original[vm.name]);
      expect(onVm(vm, `ip vrf identify $(systemctl show -p MainPID --value ${UNIT})`).trim()).toBe("");
    }
  });
});
