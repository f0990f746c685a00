// `check` is local (no SSH) and names the field that is wrong.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SSHConfig from "ssh-config";
import { describe, expect, it, vi } from "vitest";
import { provider } from "../../providers/registry";

const connection = {
  host: "127.0.0.1",
  port: 2222,
  user: "root",
  privateKey: "k",
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG",
};
const check = (desired: unknown, conn: unknown = connection) =>
  provider("DefaultQdisc").check({} as never, { connection: conn, desired });
/** The connection a checked resource dials: defaults and ssh config resolved. */
const resolved = async (conn: unknown) =>
  provider("DefaultQdisc").resolve((await check({ qdisc: "fq" }, conn)).inputs as never).connection;

describe("check", () => {
  it("accepts good input and keeps it as given; the defaults are filled where it is used", async () => {
    const r = await check({ qdisc: "noqueue" });
    expect(r.failures).toBeUndefined();
    // As the program gave them: the engine shows these against the state's while a refresh runs.
    expect(r.inputs).toEqual({ connection, desired: { qdisc: "noqueue" } });
    expect(provider("DefaultQdisc").resolve(r.inputs as never)).toMatchObject({
      connection: { dialErrorLimit: 3 },
      desired: { fileName: "90-hosttune-default-qdisc.conf" },
    });
  });

  it.each([
    [{ qdisc: "bogus" }, "desired.qdisc", /must be one of/],
    [{ qdisc: "fq", fileName: "../evil.conf" }, "desired.fileName", /plain file name/],
    [{ qdisc: "fq", fileName: "a/b.conf" }, "desired.fileName", /plain file name/],
    [{ qdisc: "fq", fileName: "x..conf" }, "desired.fileName", /'\.\.'/],
    [{ qdisc: "fq", fileName: "90-x.txt" }, "desired.fileName", /ending in \.conf/],
    [{ qdisc: "fq", reapplyTo: "tap*; reboot" }, "desired.reapplyTo", /glob/],
    [{ qdisc: "fq", extra: 1 }, "desired", /Unrecognized key/],
  ])("rejects %j at %s", async (desired, property, reason) => {
    const r = await check(desired);
    expect(r.failures?.[0]?.property).toBe(property);
    expect(r.failures?.[0]?.reason).toMatch(reason);
  });

  it("rejects a connection without credentials or with a bad host", async () => {
    expect((await check({ qdisc: "fq" }, { host: "h" })).failures?.[0]).toMatchObject({
      property: "connection",
      reason: expect.stringMatching(/password, passwordEnv, privateKey, privateKeyPath or agentSocketPath/),
    });
    expect((await check({ qdisc: "fq" }, { ...connection, host: "a b" })).failures?.[0]?.property).toBe(
      "connection.host",
    );
    expect((await check({ qdisc: "fq" }, { ...connection, hostKey: "not a key" })).failures?.[0]?.property).toBe(
      "connection.hostKey",
    );
  });
});

describe("check: bastions and ssh config (local, no SSH)", () => {
  const config = (text: string) => {
    const file = join(mkdtempSync(join(tmpdir(), "hosttune-sshconfig-")), "config");
    writeFileSync(file, text);
    return file;
  };
  const failure = async (conn: unknown) => (await check({ qdisc: "fq" }, conn)).failures?.[0];

  it("a bastion without credentials or known_hosts of its own takes the target's; one with its own keeps them", async () => {
    const withKh = { ...connection, knownHostsFile: "/kh" };
    expect(await resolved({ ...withKh, proxy: { host: "bastion" } })).toMatchObject({
      proxy: { host: "bastion", port: 22, user: "root", privateKey: "k", knownHostsFile: "/kh", dialErrorLimit: 3 },
    });
    const own = { host: "bastion", agentSocketPath: "/run/agent", hostKey: connection.hostKey };
    expect((await resolved({ ...withKh, proxy: own })).proxy).toEqual({
      ...own,
      port: 22,
      user: "root",
      dialErrorLimit: 3,
      perDialTimeout: 20,
    });
  });

  it.each([
    [{ proxy: { host: "a b" } }, "connection.proxy.host", /host name or IP address/],
    [{ proxy: { port: 22 } }, "connection.proxy.host", /Required/],
    [{ proxy: { host: "-oProxyCommand" } }, "connection.proxy.host", /must not start with '-'/],
    [{ proxy: { host: "b", hostKey: "nope" } }, "connection.proxy.hostKey", /OpenSSH public key line/],
    [{ proxy: { host: "b", sudoPassword: "x" } }, "connection.proxy", /Unrecognized key.*sudoPassword/],
    [{ sshConfig: "/nonexistent/ssh_config" }, "connection.sshConfig", /cannot read \/nonexistent\/ssh_config/],
  ])("refuses %j at %s", async (change, property, reason) => {
    expect(await failure({ ...connection, ...change })).toMatchObject({
      property,
      reason: expect.stringMatching(reason),
    });
  });

  it("a target without credentials is named at connection, a bastion without any at connection.proxy", async () => {
    expect(await failure({ host: "h", proxy: { host: "b" } })).toMatchObject({ property: "connection" });
    expect(await failure({ host: "h", passwordEnv: "X", proxy: { host: "b", passwordEnv: "Y" } })).toBeUndefined();
  });

  it.each([
    ["Host web\n  ProxyJump a,b\n", /ProxyJump a,b for web .* is a chain of 2 jumps/],
    [
      "Host web\n  ProxyJump jump\nHost jump\n  ProxyJump other\n",
      /the bastion jump of web has a ProxyJump of its own \(other\)/,
    ],
    ["Host other\n  HostName 10.0.0.1\n", /no Host block in .* names web \(Include is not followed/],
    ["Host web\n  HostName %r.example\n", /the token %r is not supported/],
    ["Host web\n  HostName bad host\n", /gives web a host that must be a host name or IP address/],
    ["Host web\n  IdentityFile /nonexistent/key\n", /no IdentityFile for web exists here: \/nonexistent\/key/],
  ])("refuses an ssh config it cannot follow at connection.sshConfig: %j", async (text, reason) => {
    expect(await failure({ host: "web", privateKey: "k", sshConfig: config(text) })).toMatchObject({
      property: "connection.sshConfig",
      reason: expect.stringMatching(reason),
    });
  });

  it("ssh config: %h, ProxyJump user@host:port over the bastion's block, `ProxyJump none`, `Match exec` never run", async () => {
    const marker = join(mkdtempSync(join(tmpdir(), "hosttune-exec-")), "ran");
    const file = config(
      [
        `Match exec "touch ${marker}"`,
        "  User exec",
        "Host web db",
        "  HostName %h.internal",
        "  ProxyJump admin@jump:2222",
        "Host db",
        "  ProxyJump none",
        "Host jump",
        "  HostName 10.0.0.1",
        "  User ops",
        "  Port 22",
        "",
      ].join("\n"),
    );
    const c = (host: string) => resolved({ host, privateKey: "k", sshConfig: file });
    expect(await c("web")).toMatchObject({
      host: "web.internal",
      proxy: { host: "10.0.0.1", user: "admin", port: 2222 },
    });
    // The first ProxyJump that applies wins, as in ssh: `none` under the later block does not.
    expect((await c("db")).proxy).toMatchObject({ host: "10.0.0.1" });
    expect(existsSync(marker)).toBe(false);
  });

  it("ssh config: parsed once while unchanged, read again once it changes", async () => {
    const file = config("Host web\n  HostName 10.0.0.1\n");
    const parse = vi.spyOn(SSHConfig, "parse");
    try {
      for (let i = 0; i < 3; i++)
        expect(await resolved({ host: "web", privateKey: "k", sshConfig: file })).toMatchObject({ host: "10.0.0.1" });
      expect(parse).toHaveBeenCalledTimes(1);
      writeFileSync(file, "Host web\n  HostName 10.0.0.22\n");
      expect(await resolved({ host: "web", privateKey: "k", sshConfig: file })).toMatchObject({ host: "10.0.0.22" });
    } finally {
      parse.mockRestore();
    }
  });
});

describe("diff (local, no SSH)", () => {
  const p = provider("DefaultQdisc");
  const given = { connection, desired: { qdisc: "fq" } };
  // Outputs as the state holds them: resolved, keys in the engine's order (sorted), no drift.
  const sorted = (v: object) => Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)));
  const stored = () => {
    const r = p.resolve(given);
    return { connection: sorted(r.connection), desired: sorted(r.desired as object), observed: {}, drift: [] };
  };

  it("the program's own inputs against the stored, resolved ones: no change, whatever the key order", async () => {
    expect((await p.diff("id", stored() as never, given)).changes).toBe(false);
  });

  it("a changed value or connection field is a change, another port a replacement", async () => {
    expect((await p.diff("id", stored() as never, { ...given, desired: { qdisc: "noqueue" } })).changes).toBe(true);
    const c = (change: object) =>
      p.diff("id", stored() as never, { ...given, connection: { ...connection, ...change } });
    expect((await c({ dialErrorLimit: 5 })).changes).toBe(true);
    expect(await c({ port: 2200 })).toMatchObject({ changes: true, replaces: ["connection.port"] });
  });
});
