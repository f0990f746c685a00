// Bad input fails with a clear message before any change, and the host is unchanged: an
// unknown qdisc, a file name with '/' or '..', a host nobody answers on, a wrong host key.
import { afterAll, describe, expect, it } from "vitest";
import type { CliStack as Stack } from "./lab";
import { fleetConfig, labStack, labVms, onVm, upFailure } from "./lab";

const vms = labVms();
const [vm1, vm2] = vms;
const stacks: Stack[] = [];

function hostState() {
  return vms.map((vm) => onVm(vm, "sysctl -n net.core.default_qdisc; ls /etc/sysctl.d"));
}

async function expectRejected(name: string, config: object, message: RegExp) {
  const before = hostState();
  const stack = await labStack(name, config);
  stacks.push(stack);
  expect(await upFailure(stack)).toMatch(message);
  expect(hostState()).toEqual(before);
}

afterAll(async () => {
  for (const s of stacks) await s.remove();
});

describe("bad input", () => {
  it("an unknown qdisc is refused in check, naming the field", async () => {
    await expectRejected(
      "e2e-bad-qdisc",
      fleetConfig({ defaultQdisc: { qdisc: "bogus" } }),
      /qdisc[^\n]*must be one of/,
    );
  });

  it("a file name with a path part is refused", async () => {
    await expectRejected(
      "e2e-bad-file",
      fleetConfig({ defaultQdisc: { qdisc: "fq", fileName: "../../etc/passwd.conf" } }),
      /fileName[^\n]*plain file name/,
    );
  });

  it("a file name with '..' is refused", async () => {
    await expectRejected(
      "e2e-bad-dots",
      fleetConfig({ defaultQdisc: { qdisc: "fq", fileName: "x..conf" } }),
      /fileName[^\n]*'\.\.'/,
    );
  });

  it("a host that does not answer is a connect error naming it", async () => {
    const cfg = fleetConfig({ defaultQdisc: { qdisc: "fq" } }, [{ ...vm1, name: "ghost", port: 10199 }]);
    await expectRejected("e2e-bad-host", cfg, /root@127\.0\.0\.1:10199: cannot connect over SSH/);
  });

  it("a wrong host key is refused, naming the host and both fingerprints", async () => {
    const cfg = fleetConfig({ defaultQdisc: { qdisc: "fq" } }, [{ ...vm1, hostKey: vm2.hostKey }]);
    await expectRejected(
      "e2e-bad-hostkey",
      cfg,
      new RegExp(`root@127\\.0\\.0\\.1:${vm1.port}: host key mismatch: the host offered SHA256:`),
    );
  });
});
