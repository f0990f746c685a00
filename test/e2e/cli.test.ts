// The `pulumi` binary as a user drives it on this project: stack init, config set --secret,
// up, preview --expect-no-changes, drift in a plain preview and its reason under --diff,
// --target, refresh, stack output, destroy; a bad stack config reported once; the bundled
// language host found without a PATH warning.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliStack, LAB_DIR, labStack, labVms, onVm, pulumi, REPO } from "./lab";

const [vm] = labVms();
const RULE = "/etc/udev/rules.d/92-e2e-cli.rules";
const TUNING = {
  defaultQdisc: { qdisc: "noqueue" },
  udevRules: [{ fileName: "92-e2e-cli.rules", content: "# e2e cli\n" }],
};
let stack: CliStack;
let original: string;

const qdisc = () => onVm(vm, "sysctl -n net.core.default_qdisc").trim();
const rule = () => onVm(vm, `cat ${RULE} 2>/dev/null || echo ABSENT`);
const urn = (type: string, name: string) =>
  `urn:pulumi:${stack.name}::hosttune::hosttune:index:HostTuning$pulumi-nodejs:dynamic/hosttune:${type}::${name}`;

beforeAll(async () => {
  original = qdisc();
  stack = await labStack("e2e-cli", {
    hosts: [{ name: "vm1", host: "127.0.0.1", port: vm.port, user: "root", hostKey: vm.hostKey }],
    tuning: TUNING,
  });
  await stack.run(
    ["config", "set", "--secret", "hosttune:privateKey"],
    readFileSync(join(LAB_DIR, "id_ed25519"), "utf8"),
  );
});

afterAll(async () => {
  await stack?.remove();
});

describe("the pulumi command on this project", () => {
  it("config set --secret keeps the key out of the stack file", () => {
    const file = readFileSync(join(REPO, "stacks", `Pulumi.${stack.name}.yaml`), "utf8");
    expect(file).toMatch(/hosttune:privateKey:\s+secure: /);
    expect(file).not.toContain("PRIVATE KEY");
  });

  it("up converges the host, with one HostTuning per host; a second preview expects no changes", async () => {
    const r = await stack.up();
    expect(r.summary.resourceChanges).toMatchObject({ create: 5 }); // stack, provider, HostTuning, 2 resources
    expect(r.stdout).toMatch(/hosttune:index:HostTuning\s+vm1/);
    expect(r.stdout).not.toMatch(/pulumi-language-nodejs from \$PATH/);
    expect([qdisc(), rule()]).toEqual(["noqueue", "# e2e cli\n"]);
    await stack.preview({ expectNoChanges: true });
  });

  it("drift by hand is an update in a plain preview, and --diff says what drifted", async () => {
    onVm(vm, "sysctl -q -w net.core.default_qdisc=fq");
    const plain = await stack.run(["preview"]);
    expect(plain.stdout).toMatch(/~ +pulumi-nodejs:dynamic\/hosttune:DefaultQdisc +vm1-default-qdisc +update/);
    const diff = await stack.run(["preview", "--diff"]);
    expect(diff.stdout).toContain(`runtime net.core.default_qdisc: asked \\"noqueue\\", got \\"fq\\"`);
    await expect(stack.preview({ expectNoChanges: true })).rejects.toThrow(/no changes were expected/);
  });

  it("refresh records the drift in state; --target then changes only the named resource", async () => {
    onVm(vm, `echo '# edited' > ${RULE}`);
    await stack.refresh();
    const state = JSON.parse((await stack.run(["stack", "export"])).stdout);
    const q = state.deployment.resources.find(
      (r: { urn: string }) => r.urn === urn("DefaultQdisc", "vm1-default-qdisc"),
    );
    expect(q.outputs.drift).toEqual([`runtime net.core.default_qdisc: asked "noqueue", got "fq"`]);
    await stack.up({ target: [urn("UdevRule", "vm1-udev-92-e2e-cli.rules")] });
    expect(rule()).toBe("# e2e cli\n");
    expect(qdisc()).toBe("fq");
    // The stack's outputs show what is still drifted.
    const out = (await stack.outputs()) as { drift: Record<string, Record<string, string[]>> };
    expect(out.drift.vm1["udev-92-e2e-cli.rules"]).toEqual([]);
    expect(out.drift.vm1["default-qdisc"]).toEqual([`runtime net.core.default_qdisc: asked "noqueue", got "fq"`]);
  });

  it("up repairs the rest and the outputs are clean", async () => {
    await stack.up();
    expect(qdisc()).toBe("noqueue");
    const out = (await stack.outputs()) as { drift: Record<string, Record<string, string[]>> };
    expect(out.drift.vm1).toEqual({ "default-qdisc": [], "udev-92-e2e-cli.rules": [] });
  });

  it("destroy puts the host back", async () => {
    await stack.destroy();
    expect([qdisc(), rule()]).toEqual([original, "ABSENT\n"]);
  });

  it("a bad stack config is reported once, naming each bad key, before any SSH", async () => {
    const bad = await labStack("e2e-cli-bad", {
      hosts: [{ name: "vm1", host: "127.0.0.1", port: vm.port, hostKey: vm.hostKey, bogus: 1 }],
      tuning: { defaultQdisc: { qdisc: "fqq" } },
      privateKeyPath: join(LAB_DIR, "id_ed25519"),
    });
    const r = await pulumi(["preview", "--stack", bad.name]);
    await bad.remove();
    const text = r.stdout + r.stderr;
    expect(r.code).not.toBe(0);
    expect(text).toContain("hosttune:hosts.0: Unrecognized key(s) in object: 'bogus'");
    expect(text.split("hosttune:tuning.defaultQdisc.qdisc: must be one of").length - 1).toBe(1);
  });
});
