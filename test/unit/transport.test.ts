// The SSH transport against a real OpenSSH sshd on 127.0.0.1.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fingerprint, parseKeyLine } from "../../providers/core/knownHosts";
import { type Raw, sh } from "../../providers/core/quote";
import { closeAll, handshakeCount, poolKey, run } from "../../providers/core/transport";
import { type Sshd, startSshd } from "./sshd";

/** TCP connections established to the sshd's port (ours, from this process). */
function established(port: number): number {
  return execFileSync("ss", ["-Htn", "state", "established", `( dport = :${port} )`], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean).length;
}

/** Live (not zombie) processes running exactly `args` (an orphan leaves sshd's tree: search them all). */
function running(args: string): string[] {
  return execFileSync("ps", ["-eo", "stat=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([stat, ...a]) => stat && !stat.startsWith("Z") && a.join(" ") === args)
    .map((a) => a.join(" "));
}

/** A step that leaves a marker after a sleep of a unique length (so no other process matches it). */
function slowStep(prefix: Raw = sh``) {
  const marker = join(mkdtempSync(join(tmpdir(), "hosttune-deadline-")), "marker");
  const t = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
  return { script: sh`${prefix}sleep ${t}; touch ${marker}`, sleepers: () => running(`sleep ${t}`).length, marker };
}

/** Listens on a free port of 127.0.0.1 and hands each accepted socket to `onSocket`. */
async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

const stopListening = (l: { server: Server; sockets: Socket[] }) => {
  for (const s of l.sockets) s.destroy();
  l.server.close();
};

/** A TCP relay to `port` that delays every chunk, each way, by `ms` (in order): a slow but live host. */
function slowRelay(port: number, ms: number) {
  const delayed = (from: Socket, to: Socket) => {
    let queue = Promise.resolve();
    from.on("data", (chunk) => {
      const due = Date.now() + ms;
      queue = queue.then(() => new Promise((r) => setTimeout(r, due - Date.now()))).then(() => void to.write(chunk));
    });
    from.on("close", () => void queue.then(() => to.destroy()));
  };
  return listen((s) => {
    const upstream = connect(port, "127.0.0.1");
    upstream.on("error", () => s.destroy());
    delayed(s, upstream);
    delayed(upstream, s);
  });
}

async function eventually(fn: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
    if (fn()) return true;
  return fn();
}

describe("poolKey", () => {
  const c = {
    host: "h",
    port: 22,
    user: "root",
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----secret-key",
    privateKeyPassword: "key-passphrase",
    password: "login-password",
    agentSocketPath: "/run/agent.sock",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMDA1im7zNJCLtByR+0XP9pBgIbbi3fFKgPiAsv8rYxm",
    dialErrorLimit: 3,
    perDialTimeout: 20,
  };

  it("is the same for the same target and credentials, whatever the retry settings", () => {
    expect(poolKey({ ...c })).toBe(poolKey(c));
    expect(poolKey({ ...c, dialErrorLimit: 1, perDialTimeout: 10 })).toBe(poolKey(c));
  });

  it.each([
    ["host", "h2"],
    ["port", 2222],
    ["user", "admin"],
    ["hostKey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF"],
    ["hostKey", undefined],
    ["privateKey", "another key"],
    ["privateKeyPassword", "another passphrase"],
    ["password", "another password"],
    ["agentSocketPath", "/run/other.sock"],
  ])("differs when %s differs", (field, value) => {
    expect(poolKey({ ...c, [field]: value })).not.toBe(poolKey(c));
  });

  it("differs by known_hosts file when no key is pinned", () => {
    const k = { ...c, hostKey: undefined };
    expect(poolKey({ ...k, knownHostsFile: "/a" })).not.toBe(poolKey({ ...k, knownHostsFile: "/b" }));
  });

  it("differs by bastion (another one, its key or its credentials) and holds none of its secrets", () => {
    const proxy = { ...c, host: "bastion", password: "bastion-password" };
    const via = poolKey({ ...c, proxy });
    expect(via).not.toBe(poolKey(c));
    for (const other of [{ host: "b2" }, { hostKey: undefined }, { password: "another" }])
      expect(poolKey({ ...c, proxy: { ...proxy, ...other } })).not.toBe(via);
    expect(via).not.toContain("bastion-password");
  });

  it("holds no secret", () => {
    const key = poolKey(c);
    for (const secret of ["secret-key", "key-passphrase", "login-password", "agent.sock"])
      expect(key).not.toContain(secret);
  });
});

describe("transport (real sshd)", { timeout: 30_000 }, () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd();
  }, 30_000);
  afterAll(() => sshd?.stop());
  afterEach(() => {
    closeAll();
    delete process.env.HOSTTUNE_SSH_LOG;
  });

  it("a HOSTTUNE_SSH_LOG that cannot be appended to neither fails the connection nor leaks one", async () => {
    process.env.HOSTTUNE_SSH_LOG = "no-such-dir/ssh.jsonl";
    const before = handshakeCount();
    const r = await run(sshd.connection, sh`echo ok`);
    expect(r).toMatchObject({ code: 0, stdout: "ok\n" });
    await run(sshd.connection, sh`true`);
    expect(handshakeCount() - before).toBe(1);
    closeAll();
    expect(await eventually(() => established(sshd.port) === 0)).toBe(true);
  });

  it.each([
    ["the only key listed", ""],
    ["another key listed too", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF"],
  ])("refuses a host key that known_hosts marks @revoked, even where it also trusts it (%s)", async (_, other) => {
    const kh = join(mkdtempSync(join(tmpdir(), "hosttune-kh-")), "known_hosts");
    const lines = [sshd.hostKey, other].filter(Boolean).map((k) => `[127.0.0.1]:${sshd.port} ${k}`);
    writeFileSync(kh, [...lines, `@revoked * ${sshd.hostKey}`, ""].join("\n"));
    const fp = fingerprint(parseKeyLine(sshd.hostKey).blob);
    await expect(run({ ...sshd.connection, hostKey: undefined, knownHostsFile: kh }, sh`true`)).rejects.toThrow(
      `${fp} is marked @revoked in ${kh}`,
    );
  });

  it.each([
    [
      "a wrong pinned host key",
      { hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF" },
      /host key mismatch/,
    ],
    ["a private key sshd does not accept", () => ({ privateKey: sshd.strangerKey }), /authentication/i],
  ])("with %s, a resource never rides on another's pooled connection", async (_, change, error) => {
    expect(await run(sshd.connection, sh`echo ok`)).toMatchObject({ stdout: "ok\n" });
    const wrong = { ...sshd.connection, ...(typeof change === "function" ? change() : change) };
    await expect(run(wrong, sh`echo ok`)).rejects.toThrow(error);
  });

  // A command's deadline holds on the host: what outlives it, or the connection it ran on, is
  // killed there (its whole process group), not merely abandoned by the client.
  it(
    "a step that outlives its timeout is killed on the host: no process and no marker left",
    { timeout: 60_000 },
    async () => {
      const step = slowStep();
      await expect(run(sshd.connection, step.script, { timeoutMs: 2000 })).rejects.toThrow(
        /timed out after 2s; the remote command was killed/,
      );
      expect(await eventually(() => step.sleepers() === 0, 10_000)).toBe(true);
      expect(existsSync(step.marker)).toBe(false);
    },
  );

  // sshd hangs up a dropped session's processes; one that ignores SIGHUP must die all the same.
  it(
    "a connection that drops mid-command takes the command down with it, even one that ignores SIGHUP",
    { timeout: 60_000 },
    async () => {
      const step = slowStep(sh`trap '' HUP; `);
      const pending = run(sshd.connection, step.script, { timeoutMs: 60_000 }).catch(() => {});
      expect(await eventually(() => step.sleepers() === 1, 10_000)).toBe(true);
      closeAll();
      await pending;
      expect(await eventually(() => step.sleepers() === 0, 10_000)).toBe(true);
      expect(existsSync(step.marker)).toBe(false);
    },
  );

  // A slow host is a normal host: a handshake that takes longer than perDialTimeout in all, on a
  // busy machine or a long path, but never leaves the host silent that long, must connect.
  it("a handshake slower than perDialTimeout in all, but never silent that long, connects", async () => {
    const relay = await slowRelay(sshd.port, 400);
    try {
      const c = { ...sshd.connection, port: relay.port, perDialTimeout: 3, dialErrorLimit: 1 };
      const started = Date.now();
      expect(await run(c, sh`echo ok`)).toMatchObject({ code: 0, stdout: "ok\n" });
      // Each round trip costs 0.8 s: the handshake alone took well over the 3 s.
      expect(Date.now() - started).toBeGreaterThan(4000);
    } finally {
      stopListening(relay);
    }
  });

  it("a host that accepts the connection and then says nothing fails after perDialTimeout, saying so", async () => {
    const mute = await listen(() => {});
    try {
      const c = { ...sshd.connection, port: mute.port, perDialTimeout: 1, dialErrorLimit: 1 };
      const started = Date.now();
      await expect(run(c, sh`true`)).rejects.toThrow(/the host said nothing for 1 s .*\(last: /);
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      stopListening(mute);
    }
  });

  // ...and one that keeps talking without ever finishing (a tarpit) is not waited on forever.
  it("a host that keeps talking but never finishes the handshake fails after 4 x perDialTimeout", async () => {
    // An SSH identification, then an SSH_MSG_IGNORE packet (length 12, padding 6) every 300 ms.
    const ignore = Buffer.from([0, 0, 0, 12, 6, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const tarpit = await listen((s) => {
      s.write("SSH-2.0-tarpit\r\n");
      const t = setInterval(() => s.write(ignore), 300);
      s.on("close", () => clearInterval(t));
    });
    try {
      const c = { ...sshd.connection, port: tarpit.port, perDialTimeout: 1, dialErrorLimit: 1 };
      const started = Date.now();
      await expect(run(c, sh`true`)).rejects.toThrow(/the SSH handshake was not done after 4 s/);
      expect(Date.now() - started).toBeLessThan(7000);
    } finally {
      stopListening(tarpit);
    }
  });

  it("reads knownHostsFile ~/... from the home directory", async () => {
    const home = mkdtempSync(join(tmpdir(), "hosttune-home-"));
    writeFileSync(join(home, "known_hosts"), `[127.0.0.1]:${sshd.port} ${sshd.hostKey}\n`);
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const c = { ...sshd.connection, hostKey: undefined, knownHostsFile: "~/known_hosts" };
      expect(await run(c, sh`echo ok`)).toMatchObject({ code: 0, stdout: "ok\n" });
    } finally {
      process.env.HOME = saved;
    }
  });
});

describe("transport with an RSA host key (real sshd)", { timeout: 30_000 }, () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd("rsa");
  }, 30_000);
  afterAll(() => sshd?.stop());
  afterEach(() => closeAll());

  it("connects with the RSA key pinned: rsa-sha2-* is offered, not only ssh-rsa", async () => {
    expect(sshd.hostKey).toMatch(/^ssh-rsa /);
    expect(await run(sshd.connection, sh`echo ok`)).toMatchObject({ code: 0, stdout: "ok\n" });
  });
});
