// A real OpenSSH sshd for transport tests: own host key, own authorized_keys, a free high port
// on 127.0.0.1 (or an address and port in a network namespace), a child of the test process
// stopped by its pid.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { Connection } from "../../providers/core/connection";
import { closeAll } from "../../providers/core/transport";

const SSHD = "/usr/sbin/sshd";

export interface Sshd {
  address: string;
  port: number;
  /** The host key's public line, as connection.hostKey takes it. */
  hostKey: string;
  /** A connection that sshd accepts (root with the authorized private key). */
  connection: Connection;
  /** The authorized private key's file. */
  keyPath: string;
  /** Another key pair sshd does not accept. */
  strangerKey: string;
  stop(): void;
  /** Cuts every open connection (kills sshd's per-connection processes), as a network drop would. */
  cut(): void;
  /** Logins sshd accepted so far (from its log). */
  accepted(): number;
  /** Sessions (commands) sshd started so far (from its log). */
  sessions(): number;
}

/** Where sshd listens: by default a free port on 127.0.0.1 of this namespace. */
export interface SshdPlace {
  /** A network namespace (`ip netns`) to run sshd in; its address and port are then given. */
  netns?: string;
  address?: string;
  port?: number;
}

function keyPair(dir: string, name: string, type: "ed25519" | "rsa"): { priv: string; pub: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", name, "-f", file]);
  return { priv: readFileSync(file, "utf8"), pub: readFileSync(`${file}.pub`, "utf8").trim() };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** sshd's own word that it listens (a probe from here cannot reach into another namespace). */
async function listening(log: () => string, where: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (/Server listening on/.test(log())) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${where}`);
}

export async function startSshd(hostKeyType: "ed25519" | "rsa" = "ed25519", place: SshdPlace = {}): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install openssh-server (scripts/install-host.sh does)`);
  const dir = mkdtempSync(join(tmpdir(), "hosttune-sshd-"));
  const host = keyPair(dir, "host_key", hostKeyType);
  const client = keyPair(dir, "client_key", "ed25519");
  const stranger = keyPair(dir, "stranger_key", "ed25519");
  writeFileSync(join(dir, "authorized_keys"), client.pub + "\n");
  const address = place.address ?? "127.0.0.1";
  const port = place.port ?? (await freePort());
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PidFile none",
      "UsePAM no",
      "PermitRootLogin yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      // The files live under /tmp, which StrictModes would refuse.
      "StrictModes no",
      // Each session's start is logged (sessions()).
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  // sshd running as root refuses to start without its privilege separation directory.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const sshd = [SSHD, "-D", "-e", "-f", join(dir, "sshd_config"), "-h", join(dir, "host_key")];
  // `ip netns exec` execs sshd in the namespace: the child's pid is sshd's.
  const [bin, ...args] = place.netns ? ["ip", "netns", "exec", place.netns, ...sshd] : sshd;
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (b) => (log += b));
  const stop = () => child.pid && !child.killed && process.kill(child.pid);
  try {
    await listening(() => log, `${address}:${port}`, Date.now() + 5000);
  } catch (e) {
    stop();
    throw new Error(`${(e as Error).message}: ${log}`);
  }
  return {
    address,
    port,
    hostKey: host.pub,
    strangerKey: stranger.priv,
    keyPath: join(dir, "client_key"),
    connection: {
      host: address,
      port,
      user: "root",
      privateKey: client.priv,
      hostKey: host.pub,
      dialErrorLimit: 2,
      perDialTimeout: 5,
    },
    stop: () => void stop(),
    cut: () => void execFileSync("pkill", ["-KILL", "-P", String(child.pid)], { stdio: "ignore" }),
    accepted: () => log.match(/Accepted publickey for /g)?.length ?? 0,
    sessions: () => log.match(/Starting session: /g)?.length ?? 0,
  };
}

/** A real sshd for the describe block this is called in; after it, the pool closed and sshd stopped. */
export function suiteSshd(): { readonly sshd: Sshd } {
  const suite = {} as { sshd: Sshd };
  beforeAll(async () => {
    suite.sshd = await startSshd();
  }, 30_000);
  afterAll(() => {
    closeAll();
    suite.sshd?.stop();
  });
  return suite;
}
