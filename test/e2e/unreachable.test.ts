// One unreachable host never hides or stops the others (issue 9): a third host, "relay", is vm2
// reached through a TCP relay on this machine that the test cuts. A plain preview still shows
// the other hosts' drift and says which host it cannot reach; `up` repairs the reachable hosts
// and fails at the end naming the unreachable one; once it answers again, `up` converges it.
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type CliStack, fleetConfig, labStack, labVms, onVm, pulumi } from "./lab";

const vms = labVms();
const rule = (n: string) => ({
  fileName: `93-e2e-${n}.rules`,
  content: `ACTION=="add", SUBSYSTEM=="net", KERNEL=="e2e${n}*", RUN+="/bin/true"`,
});

/** A TCP relay to a VM's SSH port: the host behind it becomes unreachable when cut. */
class Relay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly to: number) {}
  async listen(): Promise<void> {
    this.server = createServer((s) => {
      const up = connect(this.to, "127.0.0.1");
      for (const x of [s, up]) {
        this.sockets.add(x);
        x.on("close", () => this.sockets.delete(x));
        x.on("error", () => x.destroy());
      }
      s.pipe(up).pipe(s);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}

const relay = new Relay(vms[vms.length - 1].port);
let stack: CliStack;

beforeAll(async () => {
  await relay.listen();
  const config = fleetConfig({});
  const last = config.hosts[config.hosts.length - 1];
  config.hosts = [
    ...config.hosts.map((h) => ({ ...h, tuning: { defaultQdisc: { qdisc: "fq" }, udevRules: [rule("vm")] } })),
    { ...last, name: "relay", port: relay.port, tuning: { udevRules: [rule("relay")] } },
  ];
  stack = await labStack("e2e-unreachable", config);
});

afterAll(async () => {
  await relay.cut();
  await stack?.remove();
});

it("up converges every host while all answer", async () => {
  await stack.up();
  for (const vm of vms) expect(onVm(vm, "sysctl -n net.core.default_qdisc").trim()).toBe("fq");
  expect(onVm(vms[vms.length - 1], "ls /etc/udev/rules.d")).toMatch(/93-e2e-relay\.rules/);
});

it("with one host unreachable, preview shows the others' drift and names it; up repairs the others and fails naming it", async () => {
  await relay.cut();
  onVm(vms[0], "sysctl -qw net.core.default_qdisc=pfifo_fast");

  const p = await stack.run(["preview", "--diff"]);
  expect(p.code, p.stdout + p.stderr).toBe(0);
  expect(p.stdout).toMatch(/runtime net\.core\.default_qdisc: asked \\?"fq\\?", got \\?"pfifo_fast\\?"/);
  expect(p.stdout).toMatch(
    /UdevRule::relay-[^\]]*\][\s\S]*?127\.0\.0\.1:\d+[^\n]*(ECONNREFUSED|refused|cannot connect)/,
  );
  // Named once among the run's warnings (which the CLI prints on stderr).
  const warning = `root@127.0.0.1:${relay.port} is unreachable`;
  expect((p.stdout + p.stderr).split(warning).length - 1, p.stdout + p.stderr).toBe(1);

  const u = await pulumi(["up", "--yes", "--skip-preview", "--stack", stack.name]);
  expect(u.code).not.toBe(0);
  expect(u.stdout + u.stderr).toMatch(/relay/);
  expect(onVm(vms[0], "sysctl -n net.core.default_qdisc").trim()).toBe("fq");
});

it("once the host answers again, up converges it and nothing is left to change", async () => {
  await relay.listen();
  onVm(vms[vms.length - 1], "rm -f /etc/udev/rules.d/93-e2e-relay.rules");
  await stack.up();
  expect(onVm(vms[vms.length - 1], "ls /etc/udev/rules.d")).toMatch(/93-e2e-relay\.rules/);
  await stack.preview({ expectNoChanges: true });
});

it("destroy puts every host back", async () => {
  await stack.destroy();
  for (const vm of vms) expect(onVm(vm, "ls /etc/udev/rules.d")).not.toMatch(/93-e2e-/);
});
