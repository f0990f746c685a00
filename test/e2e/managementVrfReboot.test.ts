// A reboot inside the commit-confirm window of a ManagementVrf change that cuts SSH (no l3mdev
// accept for sshd): the VM comes back with its old network, rolled back at boot by the
// pending-rollback unit, answers SSH, and the up says what happened. Runs with the reboot tests,
// last: it leaves the VM as a fresh boot does.
import { afterAll, expect, it } from "vitest";
import { bootId, fleetConfig, labStack, labVms, netState, onVm, upFailure, waitForBoot } from "./lab";

const vm = labVms()[0];
const REBOOTER = "e2e-reboot-when-armed";

// A rebooter left waiting (the change was never armed) would reboot the VM in the middle of a
// later file, at its first commit-confirmed change.
afterAll(() => {
  try {
    onVm(vm, `systemctl stop ${REBOOTER} 2>/dev/null; true`);
  } catch {
    // Unreachable: the test has already failed and says why.
  }
});

it("a reboot inside the window rolls the change back at boot: the old network, SSH answers", async () => {
  const original = netState(vm);
  const s = await labStack(
    "e2e-vrf-reboot",
    fleetConfig({ managementVrf: { interfaces: ["enp0s2"], l3mdevAccept: { tcp: false }, confirmTimeout: 150 } }, [vm]),
  );
  const before = bootId(vm);
  // SSH is cut once the change is armed: the VM reboots itself a few seconds after that.
  onVm(
    vm,
    `systemd-run --unit=${REBOOTER} --quiet sh -c 'until grep -qsx armed /var/lib/hosttune/confirm/*/state; do sleep 1; done; sleep 5; systemctl reboot'`,
  );
  const failure = upFailure(s);
  // An up that ends before the VM reboots (say the apply failed and the host rolled back, so the
  // change was never armed) is reported with its own message, not as a boot that never came.
  const rebooted = waitForBoot(vm, before).then(() => "rebooted");
  const first = await Promise.race([rebooted, failure.then((m) => `the up ended first: ${m}`, String)]);
  if (first !== "rebooted") {
    let now: string | undefined;
    try {
      now = bootId(vm);
    } catch {
      // Unreachable: going down, presumably.
    }
    if (now === before) throw new Error(`${vm.name} did not reboot; ${first}`);
  }
  await rebooted;
  expect(await failure).toMatch(
    /ManagementVrf vrf\/mgmt: the host rebooted before the change was confirmed, and at boot it rolled it back/,
  );
  expect(netState(vm)).toBe(original);
  expect(onVm(vm, "systemctl is-enabled hosttune-pending-rollback.service").trim()).toBe("enabled");
  await s.remove();
});
