// The stack config: groups merged in order and field by field (lists by identity, null
// removes), config errors once and where they were written, waves from the rollout, and the
// real program under Pulumi's mocks: what each resource gets and what each wave waits for.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { providerSource } from "../../providers/core/shim";
import { describe, expect, it } from "vitest";
import { parseFleet, waves } from "../../fleet";

const host = (name: string, extra: object = {}) => ({ name, host: `10.0.0.${name.length}`, hostKey: "k", ...extra });
const tuningOf = (raw: object, name = "web1") => parseFleet(raw).hosts.find((h) => h.name === name)!.tuning;
const errorOf = (raw: object) => {
  try {
    parseFleet(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(pulumi.RunError);
    return (e as Error).message;
  }
  throw new Error("parseFleet accepted it");
};

const rule = (fileName: string, content = 'KERNEL=="x", GOTO="end"\n') => ({ fileName, content });

describe("tuning layers: stack < groups in the host's order < host", () => {
  it("a stack without groups works as before: the stack's tuning, with the host's own over it", () => {
    const f = parseFleet({
      hosts: [host("web1", { tuning: { defaultQdisc: { qdisc: "fq" } } }), host("web2")],
      tuning: { defaultQdisc: { qdisc: "noqueue" }, udevRules: [rule("90-a.rules")] },
    });
    expect(f.hosts.map((h) => h.tuning)).toEqual([
      { defaultQdisc: { qdisc: "fq", fileName: "90-hosttune-default-qdisc.conf" }, udevRules: [rule("90-a.rules")] },
      {
        defaultQdisc: { qdisc: "noqueue", fileName: "90-hosttune-default-qdisc.conf" },
        udevRules: [rule("90-a.rules")],
      },
    ]);
  });

  it("merges in order: each group as the host lists them, then the host", () => {
    const raw = (groups: string[], own?: object) => ({
      hosts: [host("web1", { groups, tuning: own })],
      groups: { a: { tuning: { defaultQdisc: { qdisc: "fq" } } }, b: { tuning: { defaultQdisc: { qdisc: "cake" } } } },
      tuning: { defaultQdisc: { qdisc: "noqueue" } },
    });
    expect(tuningOf(raw([])).defaultQdisc?.qdisc).toBe("noqueue");
    expect(tuningOf(raw(["a", "b"])).defaultQdisc?.qdisc).toBe("cake");
    expect(tuningOf(raw(["b", "a"])).defaultQdisc?.qdisc).toBe("fq");
    expect(tuningOf(raw(["b", "a"], { defaultQdisc: { qdisc: "sfq" } })).defaultQdisc?.qdisc).toBe("sfq");
  });

  it("a section merges field by field, nested objects too", () => {
    const t = tuningOf({
      hosts: [host("web1", { groups: ["mgmt"], tuning: { managementVrf: { l3mdevAccept: { udp: false } } } })],
      groups: { mgmt: { tuning: { managementVrf: { table: 2000 } } } },
      tuning: {
        defaultQdisc: { qdisc: "noqueue", reapplyTo: "tap*" },
        managementVrf: { name: "mgmt", interfaces: ["eno1"], l3mdevAccept: { tcp: true, udp: true } },
      },
    });
    expect(t.defaultQdisc).toMatchObject({ qdisc: "noqueue", reapplyTo: "tap*" });
    expect(t.managementVrf).toMatchObject({
      name: "mgmt",
      table: 2000,
      interfaces: ["eno1"],
      l3mdevAccept: { tcp: true, udp: false },
    });
  });

  it("list entries merge by their identity on the host; new ones are added after the inherited ones", () => {
    const t = tuningOf({
      hosts: [
        host("web1", {
          groups: ["web"],
          tuning: {
            nicCoalescing: [{ interface: "eth0", settings: { "rx-usecs": 10 } }],
            bfqScheduler: [{ match: "sd*", rotational: false }],
            vrfBoundUnits: [{ unit: "ssh.service", restart: "never" }],
          },
        }),
      ],
      groups: {
        web: {
          tuning: {
            udevRules: [{ fileName: "90-a.rules", trigger: { subsystem: "net" } }, rule("91-web.rules")],
            nicCoalescing: [{ driver: "mlx5_core", settings: { "rx-usecs": 99 } }],
          },
        },
      },
      tuning: {
        udevRules: [rule("90-a.rules"), rule("95-b.rules")],
        nicCoalescing: [{ interface: "eth0", settings: { "rx-usecs": 50, "tx-usecs": 150 } }],
        bfqScheduler: [{ match: "sd*", rotational: true }],
        vrfBoundUnits: [{ unit: "ssh.service", vrf: "mgmt" }],
      },
    });
    expect(t.udevRules).toEqual([
      { ...rule("90-a.rules"), trigger: { subsystem: "net", action: "change" } },
      rule("95-b.rules"),
      rule("91-web.rules"),
    ]);
    expect(t.nicCoalescing?.map((n) => [n.interface ?? n.driver, n.settings])).toEqual([
      ["eth0", { "rx-usecs": 10, "tx-usecs": 150 }],
      ["mlx5_core", { "rx-usecs": 99 }],
    ]);
    // bfq's identity is its rule file, which defaults from `match`: the host's entry is the same one.
    expect(t.bfqScheduler).toEqual([{ match: "sd*", rotational: false, ruleFile: "60-hosttune-bfq-sd_.rules" }]);
    expect(t.vrfBoundUnits).toMatchObject([{ unit: "ssh.service", vrf: "mgmt", restart: "never" }]);
  });

  it("null removes a section, a field or a nested field, so a host can replace one of two exclusive fields", () => {
    const t = tuningOf({
      hosts: [
        host("web1", {
          groups: ["web"],
          tuning: {
            bfqScheduler: null,
            defaultQdisc: { reapplyTo: null },
            udevRules: [{ fileName: "90-a.rules", content: null, rules: [[{ key: "KERNEL", op: "==", value: "y" }]] }],
            nicCoalescing: [{ interface: "eth0", settings: { "tx-usecs": null } }],
          },
        }),
      ],
      groups: { web: { tuning: { bfqScheduler: [{ rotational: true }] } } },
      tuning: {
        defaultQdisc: { qdisc: "noqueue", reapplyTo: "tap*" },
        udevRules: [rule("90-a.rules")],
        nicCoalescing: [{ interface: "eth0", settings: { "rx-usecs": 50, "tx-usecs": 150 } }],
      },
    });
    expect(t.bfqScheduler).toBeUndefined();
    expect(t.defaultQdisc).toEqual({ qdisc: "noqueue", fileName: "90-hosttune-default-qdisc.conf" });
    expect(t.udevRules).toEqual([{ fileName: "90-a.rules", rules: [[{ key: "KERNEL", op: "==", value: "y" }]] }]);
    expect(t.nicCoalescing?.[0].settings).toEqual({ "rx-usecs": 50 });
  });

  it("each host gets its own merge; the other hosts keep theirs", () => {
    const f = parseFleet({
      hosts: [host("web1", { groups: ["web"] }), host("db1", { groups: ["db"] }), host("x")],
      groups: { web: { tuning: { defaultQdisc: { qdisc: "fq" } } }, db: { tuning: { defaultQdisc: null } } },
      tuning: { defaultQdisc: { qdisc: "noqueue" } },
    });
    expect(f.hosts.map((h) => h.tuning.defaultQdisc?.qdisc)).toEqual(["fq", undefined, "noqueue"]);
  });
});

describe("config errors: once, before any SSH, where they were written", () => {
  it("an unknown group names the host's entry and the groups there are", () => {
    const msg = errorOf({ hosts: [host("web1", { groups: ["web", "dbb"] })], groups: { web: {}, db: {} } });
    expect(msg).toBe(
      "invalid hosttune stack config:\n  hosttune:hosts.0.groups.1: unknown group dbb (hosttune:groups has web, db)",
    );
    // Once, however many hosts list it.
    const many = errorOf({ hosts: ["a", "b", "c"].map((n) => host(n, { groups: ["dbb"] })), groups: { web: {} } });
    expect(many).toBe(
      "invalid hosttune stack config:\n  hosttune:hosts.0.groups.0: unknown group dbb (hosttune:groups has web); hosts a, b, c list it",
    );
  });

  it("a bad value is reported at the layer that gave it, once, with the hosts it affects unless all", () => {
    const msg = errorOf({
      hosts: [host("web1", { groups: ["web"] }), host("web2", { groups: ["web"] }), host("db1")],
      groups: { web: { tuning: { udevRules: [{ fileName: "90-a.rules", trigger: { action: "bogus" } }] } } },
      tuning: { defaultQdisc: { qdisc: "fqq" }, udevRules: [rule("90-a.rules")] },
    });
    const lines = msg.split("\n").slice(1);
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}hosttune:tuning\.defaultQdisc\.qdisc: must be one of [^(]*$/),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}hosttune:groups\.web\.tuning\.udevRules\.0\.trigger\.action: .* \(in the tuning of hosts web1, web2\)$/,
      ),
    );
    expect(lines).toHaveLength(2);
  });

  it("a field made invalid by a host's own layer is reported there; the whole list is checked once merged", () => {
    const msg = errorOf({
      hosts: [host("web1", { tuning: { udevRules: [rule("95-b.rules"), { fileName: "90-a.rules", content: null }] } })],
      tuning: { udevRules: [rule("90-a.rules")] },
    });
    // The merged entry has neither content nor rules: the host removed the content the stack gave.
    expect(msg).toBe(
      "invalid hosttune stack config:\n  hosttune:hosts.0.tuning.udevRules.1.content: give exactly one of content or rules",
    );
  });

  it("a layer's shape is checked as written: unknown keys, a list where one is due, duplicate entries", () => {
    const msg = errorOf({
      hosts: [host("web1", { tuning: { defaultQdsic: {} } })],
      groups: { web: { tuning: { udevRules: { fileName: "90-a.rules" } } } },
      tuning: { udevRules: [rule("90-a.rules"), rule("90-a.rules", "x")] },
      rollout: { canary: ["web9"] },
    });
    expect(msg).toContain("hosttune:hosts.0.tuning: Unrecognized key(s) in object: 'defaultQdsic'");
    expect(msg).toContain("hosttune:groups.web.tuning.udevRules: Expected array, received object");
    expect(msg).toContain("hosttune:tuning.udevRules.1: same entry as udevRules.0 (udev-90-a.rules): give it once");
  });

  it("a canary that is not a host is an error", () => {
    expect(errorOf({ hosts: [host("web1")], rollout: { canary: ["web9"] } })).toContain(
      "hosttune:rollout.canary.0: unknown host web9",
    );
  });
});

describe("bastions and ssh config in the stack", () => {
  const bastion = {
    host: "10.9.0.1",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF",
  };

  it("the stack's proxy and sshConfig reach every host unless it gives its own, or null for none", () => {
    const file = join(mkdtempSync(join(tmpdir(), "hosttune-sshconfig-")), "config");
    writeFileSync(file, "Host 10.0.0.*\n  User tuner\n");
    const f = parseFleet({
      hosts: [
        host("web1"),
        host("web2", { proxy: null, sshConfig: null }),
        host("web3", { proxy: { host: "10.9.0.2", privateKeyPath: "~/.ssh/b" }, sshConfig: file }),
      ],
      proxy: bastion,
      sshConfig: file,
    });
    expect(f.hosts.map((h) => [h.proxy, h.sshConfig])).toEqual([
      [bastion, file],
      [undefined, undefined],
      [{ host: "10.9.0.2", privateKeyPath: "~/.ssh/b" }, file],
    ]);
  });

  it("an ssh config problem is reported once, where the sshConfig was written, before any resource", () => {
    const file = join(mkdtempSync(join(tmpdir(), "hosttune-sshconfig-")), "config");
    writeFileSync(file, "Host web1\n  ProxyJump a,b\nHost web2\n  HostName 10.0.0.3\n");
    const hosts = [
      host("web1", { host: "web1" }),
      host("web2", { host: "web2" }),
      host("db", { sshConfig: null }),
      host("db2", { sshConfig: "/nonexistent" }),
    ];
    const missing = errorOf({ hosts, sshConfig: "/nonexistent/config" });
    expect(missing.match(/cannot read \/nonexistent\/config/g)).toHaveLength(1);
    expect(missing).toContain("hosttune:sshConfig: cannot read /nonexistent/config: ENOENT");
    expect(missing).toContain("(for web1, web2)");
    expect(missing).toContain("hosttune:hosts.3.sshConfig: cannot read /nonexistent: ENOENT");
    const chain = errorOf({ hosts: hosts.slice(0, 3), sshConfig: file });
    expect(chain).toMatch(/hosttune:sshConfig: ProxyJump a,b for web1 in .* is a chain of 2 jumps.* \(for web1\)$/);
  });

  it("key material for a bastion is refused in plain stack config, named where it was written", () => {
    expect(errorOf({ hosts: [host("web1", { proxy: { host: "b", password: "x" } })] })).toContain(
      "hosttune:hosts.0.proxy: Unrecognized key(s) in object: 'password'",
    );
    expect(errorOf({ hosts: [host("web1")], proxy: { host: "a b" } })).toContain(
      "hosttune:proxy.host: must be a host name or IP address",
    );
  });
});

describe("waves", () => {
  const hosts = ["a", "b", "c", "d", "e"].map((name) => ({ name }));
  const names = (w: { name: string }[][]) => w.map((x) => x.map((h) => h.name));

  it("without a rollout, every host in one wave", () => {
    expect(names(waves(hosts, undefined))).toEqual([["a", "b", "c", "d", "e"]]);
  });

  it("the canaries first (in host order), then the others in batches, in host order", () => {
    expect(names(waves(hosts, { canary: ["d", "b"], batchSize: 2 }))).toEqual([["b", "d"], ["a", "c"], ["e"]]);
    expect(names(waves(hosts, { canary: ["c"] }))).toEqual([["c"], ["a", "b", "d", "e"]]);
    expect(names(waves(hosts, { canary: [], batchSize: 3 }))).toEqual([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
    expect(names(waves(hosts, { canary: ["a", "b", "c", "d", "e"], batchSize: 1 }))).toEqual([
      ["a", "b", "c", "d", "e"],
    ]);
  });
});

describe("the program under Pulumi's mocks", () => {
  it("each resource gets the validated tuning of its host; each wave's HostTunings depend on every resource of the wave before", async () => {
    const config = {
      hosts: [
        host("vm1"),
        host("vm2", { groups: ["web"] }),
        host("vm3", { tuning: { defaultQdisc: { qdisc: "fq" } }, proxy: null }),
      ],
      proxy: { host: "10.9.0.1" },
      groups: { web: { tuning: { udevRules: [rule("91-web.rules")] } } },
      tuning: { defaultQdisc: { qdisc: "noqueue" }, udevRules: [rule("90-a.rules")] },
      rollout: { canary: ["vm2"], batchSize: 1 },
      privateKeyPath: "/nonexistent/key",
    };
    const registered: { urn: string; type: string; name: string; parent: string; deps: string[]; provider: string }[] =
      [];
    const inputs = new Map<string, { desired?: unknown; connection?: { proxy?: unknown }; __provider?: string }>();
    const types = new Map<string, string>();
    await pulumi.runtime.setMocks(
      {
        newResource: (a) => {
          inputs.set(a.name, a.inputs);
          types.set(a.name, a.type);
          return { id: `${a.name}-id`, state: { ...a.inputs, drift: [] } };
        },
        call: () => ({}),
      },
      "hosttune",
      "unit",
      false,
    );
    pulumi.runtime.setAllConfig(
      Object.fromEntries(Object.entries(config).map(([k, v]) => [`hosttune:${k}`, JSON.stringify(v)])),
    );
    // What reaches the engine: the registration requests (their dependencies) and the URNs given back.
    type Req = Record<string, () => unknown>;
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource(req: Req, cb: (err: unknown, resp?: { getUrn(): string }) => void): void;
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) =>
      register(req, (err, resp) => {
        if (resp)
          registered.push({
            urn: resp.getUrn(),
            type: req.getType() as string,
            name: req.getName() as string,
            parent: req.getParent() as string,
            deps: req.getDependenciesList() as string[],
            provider: req.getProvider() as string,
          });
        cb(err, resp);
      });

    const program = await import("../../index");
    const drift = await new Promise((resolve) => pulumi.output(program.drift).apply(resolve));
    expect(Object.keys(drift as object)).toEqual(["vm1", "vm2", "vm3"]);

    const fleet = parseFleet(JSON.parse(JSON.stringify(config)));
    const component = (name: string) =>
      registered.find((r) => r.type === "hosttune:index:HostTuning" && r.name === name)!;
    const childrenOf = (name: string) => registered.filter((r) => r.parent === component(name).urn);
    for (const h of fleet.hosts) {
      const { defaultQdisc, udevRules = [] } = h.tuning;
      expect(childrenOf(h.name).map((c) => c.name)).toEqual([
        `${h.name}-default-qdisc`,
        ...udevRules.map((r) => `${h.name}-udev-${r.fileName}`),
      ]);
      expect(inputs.get(`${h.name}-default-qdisc`)?.desired).toEqual(defaultQdisc);
      for (const r of udevRules) expect(inputs.get(`${h.name}-udev-${r.fileName}`)?.desired).toEqual(r);
    }
    expect(childrenOf("vm2").map((c) => c.name)).toContain("vm2-udev-91-web.rules");
    expect(inputs.get("vm3-default-qdisc")?.desired).toMatchObject({ qdisc: "fq" });
    // Dynamic resources as the SDK's own make them, with hosttune's provider module in `__provider`.
    expect(types.get("vm2-udev-91-web.rules")).toBe("pulumi-nodejs:dynamic/hosttune:UdevRule");
    expect(inputs.get("vm2-udev-91-web.rules")?.__provider).toBe(providerSource("UdevRule"));
    // One explicit provider for all of them, with no config: a changed stack config never makes a new one.
    const providers = registered.filter((r) => r.type === "pulumi:providers:pulumi-nodejs");
    expect(providers.map((p) => p.name)).toEqual(["hosttune"]);
    expect(inputs.get("hosttune")).toEqual({});
    const hostResources = registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/hosttune:"));
    expect(new Set(hostResources.map((r) => r.provider.split("::").slice(0, -1).join("::")))).toEqual(
      new Set([providers[0].urn]),
    );
    // The stack's bastion, except for the host that says `proxy: null`.
    expect(inputs.get("vm1-default-qdisc")?.connection?.proxy).toEqual({ host: "10.9.0.1" });
    expect(inputs.get("vm3-default-qdisc")?.connection?.proxy).toBeUndefined();
    // Waves: [vm2], [vm1], [vm3]. A wave's HostTunings depend on every resource of the wave before
    // (the SDK expands a component to its resources); their resources wait for them as their parent.
    const urns = (name: string) => new Set(childrenOf(name).map((c) => c.urn));
    expect(component("vm2").deps).toEqual([]);
    expect(new Set(component("vm1").deps)).toEqual(urns("vm2"));
    expect(new Set(component("vm3").deps)).toEqual(urns("vm1"));
  });
});
