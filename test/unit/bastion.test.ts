// Targets behind a bastion, all real sshd processes (test/unit/bastionNet.ts): the targets
// listen on a network namespace's own 127.0.0.1, so only the bastion reaches them.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connectionSchema } from "../../providers/core/connection";
import { fingerprint, parseKeyLine } from "../../providers/core/knownHosts";
import { sh } from "../../providers/core/quote";
import { withCredentials } from "../../providers/core/credentials";
import { closeAll, run } from "../../providers/core/transport";
import { type BastionNet, startBastionNet } from "./bastionNet";

const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF";
const fp = (line: string) => fingerprint(parseKeyLine(line).blob);

describe("targets behind a bastion (real sshd, own network namespace)", { timeout: 60_000 }, () => {
  let net: BastionNet;
  /** Target i through the bastion, each hop with its own key and pinned host key. */
  const via = (i: number, proxy: Partial<Connection["proxy"]> = {}): Connection => ({
    ...net.targets[i].connection,
    proxy: { ...net.bastion.connection, ...proxy },
  });

  beforeAll(async () => {
    net = await startBastionNet(2);
  }, 60_000);
  afterAll(() => net?.stop());
  afterEach(() => {
    closeAll();
    delete process.env.HOSTTUNE_SSH_LOG;
  });

  it("a target that only the bastion reaches: direct fails, through the bastion works", async () => {
    const t = net.targets[0];
    await expect(run({ ...t.connection, dialErrorLimit: 1 }, sh`echo ok`)).rejects.toThrow(
      /cannot connect over SSH after 1 attempt/,
    );
    // sshd says whom it talks to: the bastion's forward, from the namespace's own loopback.
    const r = await run(via(0), sh`echo "$SSH_CONNECTION"`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${t.port}\\n$`));
  });

  it("several concurrent commands on two targets: one handshake to the bastion, one to each target", async () => {
    const log = join(mkdtempSync(join(tmpdir(), "hosttune-ssh-")), "log.jsonl");
    process.env.HOSTTUNE_SSH_LOG = log;
    const accepted = () => [net.bastion, ...net.targets].map((s) => s.accepted());
    const before = accepted();
    const results = await Promise.all([0, 1, 0, 1, 0, 1, 0, 1].map((i) => run(via(i), sh`echo ${String(i)}`)));
    expect(results.map((r) => r.stdout)).toEqual(["0\n", "1\n", "0\n", "1\n", "0\n", "1\n", "0\n", "1\n"]);
    const dialled = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .map((e) => `${e.host}:${e.port}${e.via ? ` via ${e.via}` : ""}`)
      .sort();
    const b = `root@${net.address}:22`;
    expect(dialled).toEqual([`${net.address}:22`, ...net.targets.map((t) => `127.0.0.1:${t.port} via ${b}`)].sort());
    // ...and the servers agree: one login each.
    expect(accepted().map((n, i) => n - before[i])).toEqual([1, 1, 1]);
  });

  it("a wrong pinned bastion key is refused, naming the bastion and both fingerprints", async () => {
    const err = await run(via(0, { hostKey: OTHER_KEY }), sh`true`).catch((e: Error) => e);
    expect(String(err)).toContain(
      `via root@${net.address}:22: the bastion's key: root@${net.address}:22: host key mismatch`,
    );
    expect(String(err)).toContain(
      `the host offered ${fp(net.bastion.hostKey)}, the pinned hostKey trusts ${fp(OTHER_KEY)}`,
    );
  });

  it("a wrong pinned target key behind a good bastion names the target", async () => {
    const err = await run({ ...via(1), hostKey: OTHER_KEY }, sh`true`).catch((e: Error) => e);
    expect(String(err)).toMatch(
      new RegExp(
        `root@127\\.0\\.0\\.1:${net.targets[1].port} via root@${net.address.replace(/\./g, "\\.")}:22: host key mismatch`,
      ),
    );
  });

  it("each hop's failure says which: bastion unreachable, target refused through the bastion", async () => {
    await expect(run(via(0, { port: 2, dialErrorLimit: 1 }), sh`true`)).rejects.toThrow(
      `via root@${net.address}:2: the bastion is unreachable: root@${net.address}:2: cannot connect over SSH`,
    );
    // A port nothing listens on in the namespace: the bastion is fine, the target refuses.
    const closed = { ...via(0), port: net.bastion.port + 1, dialErrorLimit: 1 };
    await expect(run(closed, sh`true`)).rejects.toThrow(
      `cannot connect over SSH after 1 attempt(s): the bastion root@${net.address}:22 could not open a connection to 127.0.0.1:23`,
    );
  });

  it("a host, its bastion and their keys from an ssh config (HostName, Port, User, IdentityFile, ProxyJump)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-sshconfig-"));
    const [t, b] = [net.targets[1], net.bastion];
    writeFileSync(
      join(dir, "config"),
      [
        "Host web",
        "  HostName 127.0.0.1",
        `  Port ${t.port}`,
        "  User root",
        `  IdentityFile ${t.keyPath}`,
        "  ProxyJump jump",
        "Host jump",
        `  HostName ${net.address}`,
        "  User root",
        `  IdentityFile ${b.keyPath}`,
        "Host *",
        "  User nobody",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "known_hosts"), `[127.0.0.1]:${t.port} ${t.hostKey}\n${net.address} ${b.hostKey}\n`);
    const given = { host: "web", sshConfig: join(dir, "config"), knownHostsFile: join(dir, "known_hosts") };
    const c = connectionSchema.parse(given);
    // Each host's own block first (its first value wins over `Host *`'s); the bastion checked
    // against the target's known_hosts.
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: t.port,
      user: "root",
      privateKeyPath: t.keyPath,
      proxy: {
        host: net.address,
        port: 22,
        user: "root",
        privateKeyPath: b.keyPath,
        knownHostsFile: given.knownHostsFile,
      },
    });
    expect(await run(withCredentials(c), sh`echo "$SSH_CONNECTION"`)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${t.port}\\n$`)),
    });
    // Fields given win; an explicit proxy replaces ProxyJump as a whole.
    expect(connectionSchema.parse({ ...given, user: "admin", port: 2200, proxy: { host: "10.0.0.1" } })).toMatchObject({
      user: "admin",
      port: 2200,
      proxy: { host: "10.0.0.1", port: 22, privateKeyPath: t.keyPath },
    });
  });
});
