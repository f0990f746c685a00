// VrfBoundSystemdUnit through the real CLI: a service moved into a VRF (created here by hand;
// ManagementVrf is not in yet) is proven inside it by `ip vrf identify`, survives drift, and is
// back in the default VRF after destroy. A missing VRF or unit is a clear error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, onVm, upFailure } from "./lab";

const vms = labVms();
const UNIT = "hosttune-e2e-sleeper.service";
const SERVICE = `[Unit]\nDescription=hosttune e2e sleeper\n[Service]\nExecStart=-/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n`;
let stack: Stack;

const vrfOfMain = (vm: (typeof vms)[number]) =>
  onVm(vm, `ip vrf identify $(systemctl show -p MainPID --value ${UNIT})`).trim();

beforeAll(async () => {
  for (const vm of vms)
    onVm(
      vm,
      `ip link add e2evrf type vrf table 1100 && ip link set e2evrf up && ` +
        `echo ${Buffer.from(SERVICE).toString("base64")} | base64 -d > /etc/systemd/system/${UNIT} && systemctl daemon-reload && systemctl start ${UNIT}`,
    );
  stack = await labStack("e2e-vrfunit", fleetConfig({ vrfBoundUnits: [{ unit: UNIT, vrf: "e2evrf" }] }));
});

afterAll(async () => {
  await stack?.remove();
  for (const vm of vms)
    onVm(
      vm,
      `systemctl stop ${UNIT}; rm -f /etc/systemd/system/${UNIT}; systemctl daemon-reload; ip link del e2evrf; true`,
    );
});

describe("VrfBoundSystemdUnit on the lab fleet", () => {
  it("up restarts the service inside the VRF, proven by ip vrf identify", async () => {
    for (const vm of vms) expect(vrfOfMain(vm)).toBe("");
    await stack.up();
    for (const vm of vms) {
      expect(vrfOfMain(vm)).toBe("e2evrf");
      expect(onVm(vm, `systemctl show -p ExecStart --value ${UNIT}`)).toMatch(
        /ip vrf exec e2evrf \/bin\/sleep infinity/,
      );
      expect(onVm(vm, "ls /lib/systemd/system /usr/lib/systemd/system | grep -c hosttune || true").trim()).toBe("0");
    }
    await stack.preview({ expectNoChanges: true });
  });

  it("a service restarted outside the VRF by hand shows as drift, and up puts it back", async () => {
    const vm = vms[0];
    onVm(
      vm,
      `rm /etc/systemd/system/${UNIT}.d/50-hosttune-vrf.conf && systemctl daemon-reload && systemctl restart ${UNIT}`,
    );
    expect(vrfOfMain(vm)).toBe("");
    expect((await stack.preview()).changeSummary.update).toBe(1);
    await stack.up();
    expect(vrfOfMain(vm)).toBe("e2evrf");
  });

  it("a VRF deleted by hand is drift in a plain preview (not a failed refresh), and up repairs once it is back", async () => {
    const vm = vms[0];
    onVm(vm, "ip link del e2evrf");
    const p = await stack.preview();
    expect(p.changeSummary.update).toBe(1);
    const diff = await stack.run(["preview", "--diff"]);
    expect(diff.stdout).toMatch(/VRF e2evrf does not exist/);
    // The VRF is not this stack's to make (no ManagementVrf here): put it back by hand.
    onVm(vm, "ip link add e2evrf type vrf table 1100 && ip link set e2evrf up");
    await stack.up();
    expect(vrfOfMain(vm)).toBe("e2evrf");
    await stack.preview({ expectNoChanges: true });
  });

  it("a missing VRF or unit is a clear error", async () => {
    const vm = vms[0];
    const s = await labStack("e2e-vrfunit-bad", fleetConfig({ vrfBoundUnits: [{ unit: UNIT, vrf: "novrf" }] }, [vm]));
    expect(await upFailure(s)).toMatch(/VRF novrf does not exist/);
    await s.setAllConfig({ tuning: { vrfBoundUnits: [{ unit: "nope.service", vrf: "e2evrf" }] } });
    expect(await upFailure(s)).toMatch(/unit nope\.service is not loaded/);
    await s.remove();
  });

  it("binding sshd to a VRF that does not carry SSH is rolled back by the host: SSH answers, the error says why", async () => {
    const vm = vms[0];
    const sshdVrf = () => onVm(vm, "ip vrf identify $(systemctl show -p MainPID --value ssh.service)").trim();
    const s = await labStack(
      "e2e-vrfunit-ssh",
      fleetConfig({ vrfBoundUnits: [{ unit: "ssh.service", vrf: "e2evrf", confirmTimeout: 20 }] }, [vm]),
    );
    expect(await upFailure(s)).toMatch(
      new RegExp(
        /VrfBoundSystemdUnit vrf-unit\/ssh\.service: no fresh SSH connection could confirm the change within 20s, /
          .source + /so the host rolled it back by itself\. The restarted unit serves SSH/.source,
      ),
    );
    expect(sshdVrf()).toBe("");
    expect(onVm(vm, "ls /etc/systemd/system/ssh.service.d 2>/dev/null | wc -l").trim()).toBe("0");
    await s.remove();
  });

  it("destroy removes the drop-in and the service is back in the default VRF", async () => {
    await stack.destroy();
    for (const vm of vms) {
      expect(vrfOfMain(vm)).toBe("");
      expect(onVm(vm, `ls /etc/systemd/system/${UNIT}.d 2>/dev/null | wc -l`).trim()).toBe("0");
    }
  });
});
