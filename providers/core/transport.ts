// SSH transport: one pooled connection per target and credentials per process (the dynamic-
// provider plugin serves one deployment, so: one handshake per host per deployment), host keys
// verified, bounded connect retries, a cap on concurrent channels, sudo for non-root users.
import { createHmac, randomBytes } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { type Duplex, PassThrough } from "node:stream";
import type { NodeSSH } from "node-ssh";
import { type Connection, target } from "./connection";
import { fingerprint, hostKeyAlgorithms, knownHostsPath, knownKeys, parseKeyLine, type PublicKey } from "./knownHosts";
import { quote, sh, type Raw } from "./quote";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** A commit-confirmed apply that failed: the host has run its own rollback, with this result. */
  hostRollback?: "done" | "failed";
}

export class HostError extends Error {
  constructor(
    readonly host: string,
    message: string,
  ) {
    super(`${host}: ${message}`);
  }
}

interface Pooled {
  ssh: NodeSSH;
  slots: Semaphore;
}

interface PoolState {
  conns: Map<string, Promise<Pooled>>;
  gates: Map<string, Gate>;
  changes: Map<string, Semaphore>;
  handshakes: number;
  /** Keys the hash of credentials in pool keys: not comparable outside this process. */
  salt: Buffer;
}

// Shared through globalThis: however many copies of this module a process loads, the
// deployment keeps one pool.
const POOL_KEY = Symbol.for("hosttune.sshPool");
function pool(): PoolState {
  const g = globalThis as unknown as Record<symbol, PoolState>;
  return (g[POOL_KEY] ??= {
    conns: new Map(),
    gates: new Map(),
    changes: new Map(),
    handshakes: 0,
    salt: randomBytes(32),
  });
}

/** SSH handshakes this process has completed (tests and bench read it). */
export function handshakeCount(): number {
  return pool().handshakes;
}

class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/**
 * Per-host gate: commands share it; a change that can cut the SSH path (commit-confirmed)
 * holds it alone, so no other resource's command is in flight when the path changes.
 */
export class Gate {
  private active = 0;
  private writer = false;
  private queue: { exclusive: boolean; go: () => void }[] = [];
  private pump() {
    while (this.queue.length && !this.writer) {
      const next = this.queue[0];
      if (next.exclusive && this.active > 0) return;
      this.queue.shift();
      if (next.exclusive) this.writer = true;
      else this.active++;
      next.go();
      if (next.exclusive) return;
    }
  }
  async with<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((go) => {
      this.queue.push({ exclusive, go });
      this.pump();
    });
    try {
      return await fn();
    } finally {
      if (exclusive) this.writer = false;
      else this.active--;
      this.pump();
    }
  }
}

function gate(c: Connection): Gate {
  const gates = pool().gates;
  let g = gates.get(target(c));
  if (!g) gates.set(target(c), (g = new Gate()));
  return g;
}

/** Runs fn beside the host's other commands, not during one that has the host to itself (see Gate). */
export function sharingHost<T>(c: Connection, fn: () => Promise<T>): Promise<T> {
  return gate(c).with(false, fn);
}

/** Runs fn with the host to itself: other commands to it wait (see Gate). */
export function exclusively<T>(c: Connection, fn: () => Promise<T>): Promise<T> {
  return gate(c).with(true, fn);
}

/**
 * Runs fn after this deployment's other changes to the host: they queue here, one at a time, not
 * on the host's lock, whose wait is limited (it keeps other runs out) and would run out behind
 * our own changes on a slow machine.
 */
export function oneChangeAtATime<T>(c: Connection, fn: () => Promise<T>): Promise<T> {
  const changes = pool().changes;
  let s = changes.get(target(c));
  if (!s) changes.set(target(c), (s = new Semaphore(1)));
  return s.run(fn);
}

// sshd allows 10 sessions per connection by default (MaxSessions); stay below it.
const MAX_CHANNELS = 8;

const fingerprints = (keys: PublicKey[]) => keys.map((k) => fingerprint(k.blob)).join(", ");

function trustedKeys(c: Connection): { keys: PublicKey[]; revoked: PublicKey[]; source: string } {
  if (c.hostKey) return { keys: [parseKeyLine(c.hostKey)], revoked: [], source: "the pinned hostKey" };
  const file = knownHostsPath(c.knownHostsFile);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new HostError(
      target(c),
      `no hostKey pinned and known_hosts file ${file} cannot be read; pin the host's key with connection.hostKey`,
    );
  }
  const { trusted, revoked } = knownKeys(text, c.host, c.port);
  if (trusted.length === 0)
    throw new HostError(
      target(c),
      revoked.length
        ? `every key ${file} lists for this host is revoked: ${fingerprints(revoked)} is marked @revoked in ${file}; ` +
            "add the host's new key (ssh-keyscan) or pin connection.hostKey"
        : `no key for this host in ${file}; add it (ssh-keyscan) or pin connection.hostKey`,
    );
  return { keys: trusted, revoked, source: file };
}

// A slow host is a normal host: a dial gives up when the host has said nothing for perDialTimeout
// (no answer to the connection, or to a step of the handshake), not when a handshake on a busy
// machine or a long path takes longer in all. This many perDialTimeouts bound the whole dial,
// against a host that keeps talking without ever finishing.
const DIAL_PATIENCE = 4;

/** `sock`: a channel the bastion opened to the target, which the handshake runs over. */
async function dial(c: Connection, sock?: Duplex): Promise<NodeSSH> {
  const { keys, revoked, source } = trustedKeys(c);
  let offered: Buffer | undefined;
  // Loaded on the first dial: the program imports this module (through the kinds) but never dials.
  const ssh = new (require("node-ssh") as typeof import("node-ssh")).NodeSSH();
  // ssh2 reports each step of the handshake, either way, to its debug hook: the host's silence
  // is the time since the last one.
  let step = "connecting";
  let silent = false;
  let watch: NodeJS.Timeout | undefined;
  const heard = (what: string) => {
    step = what;
    clearTimeout(watch);
    watch = setTimeout(() => {
      silent = true;
      ssh.connection?.destroy();
    }, c.perDialTimeout * 1000);
  };
  heard(step);
  try {
    await ssh.connect({
      host: c.host,
      port: c.port,
      sock,
      username: c.user,
      password: c.password,
      privateKey: c.privateKey,
      passphrase: c.privateKeyPassword,
      agent: c.agentSocketPath,
      readyTimeout: DIAL_PATIENCE * c.perDialTimeout * 1000,
      debug: (what: string) => watch && !silent && heard(what),
      keepaliveInterval: 10_000,
      algorithms: { serverHostKey: hostKeyAlgorithms(keys) as never },
      hostVerifier: (key: Buffer) => {
        offered = key;
        return keys.some((k) => k.blob.equals(key));
      },
    });
    // A connection that dies later (keepalive timeout, reset) must not crash the plugin: the
    // next command on it fails and the pool redials.
    ssh.connection?.on("error", () => {});
  } catch (e) {
    ssh.dispose();
    if (silent) throw new Error(`the host said nothing for ${c.perDialTimeout} s while dialling (last: ${step})`);
    if (/Timed out while waiting for handshake/.test(String(e)))
      throw new Error(`the SSH handshake was not done after ${DIAL_PATIENCE * c.perDialTimeout} s (last: ${step})`);
    if (offered && revoked.some((k) => k.blob.equals(offered!)))
      throw new HostKeyMismatch(
        target(c),
        `host key ${fingerprint(offered)} is marked @revoked in ${source}: refusing it. ` +
          "Give the host a new key, or remove the @revoked line if the revocation is wrong",
      );
    if (offered && !keys.some((k) => k.blob.equals(offered!)))
      throw new HostKeyMismatch(
        target(c),
        `host key mismatch: the host offered ${fingerprint(offered)}, ${source} trusts ${fingerprints(keys)}. ` +
          `If the host was rebuilt, update ${source}; otherwise this may be a different machine`,
      );
    throw e;
  } finally {
    clearTimeout(watch);
    watch = undefined;
  }
  return ssh;
}

class HostKeyMismatch extends HostError {}
/** No SSH connection could be made at all (down, no route, refused, timed out). */
export class Unreachable extends HostError {}
const FATAL = /authentication|All configured authentication methods failed/i;

/**
 * Appends the handshake to HOSTTUNE_SSH_LOG (the e2e suite and bench count them). Only a
 * warning if that fails: a log must never fail, or leak, the connection it records.
 */
function logHandshake(c: Connection): void {
  const file = process.env.HOSTTUNE_SSH_LOG;
  if (!file) return;
  try {
    appendFileSync(
      file,
      JSON.stringify({
        pid: process.pid,
        host: c.host,
        port: c.port,
        user: c.user,
        via: c.proxy && target(c.proxy),
        at: Date.now(),
      }) + "\n",
    );
  } catch (e) {
    console.error(`hosttune: cannot append to HOSTTUNE_SSH_LOG ${file}: ${(e as Error).message}`);
  }
}

/**
 * The bastion's pooled connection (one handshake per deployment, whatever the number of targets
 * behind it); its failure is the target's, saying which hop failed.
 */
async function bastion(c: Connection): Promise<Pooled> {
  try {
    return await connection(c.proxy!);
  } catch (e) {
    if (e instanceof HostKeyMismatch) throw new HostKeyMismatch(target(c), `the bastion's key: ${e.message}`);
    throw new Unreachable(target(c), `the bastion is unreachable: ${(e as Error).message}`);
  }
}

/** A direct-tcpip channel from the bastion to the target; a refusal is retried like a failed dial. */
async function tunnel(c: Connection): Promise<Duplex> {
  const via = await bastion(c);
  try {
    return await via.ssh.forwardOut("127.0.0.1", 0, c.host, c.port);
  } catch (e) {
    throw new Error(
      `the bastion ${target(c.proxy!)} could not open a connection to ${c.host}:${c.port}: ${(e as Error).message}`,
    );
  }
}

async function connectWithRetry(c: Connection): Promise<Pooled> {
  let last: unknown;
  for (let attempt = 1; attempt <= c.dialErrorLimit; attempt++) {
    try {
      const ssh = await dial(c, c.proxy && (await tunnel(c)));
      pool().handshakes++;
      logHandshake(c);
      return { ssh, slots: new Semaphore(MAX_CHANNELS) };
    } catch (e) {
      last = e;
      if (e instanceof HostError || FATAL.test(String((e as Error).message))) break;
      if (attempt < c.dialErrorLimit) await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
  if (last instanceof HostError) throw last;
  throw new Unreachable(
    target(c),
    `cannot connect over SSH after ${c.dialErrorLimit} attempt(s): ${(last as Error)?.message ?? last}. Check host, port, user and credentials`,
  );
}

/**
 * The pool key: everything that decides whom we trust and who we are, so a resource with a
 * wrong host key or credentials dials (and fails) itself instead of riding on another's
 * connection. Credentials enter only as a salted hash.
 */
export function poolKey(c: Connection): string {
  const trust = c.hostKey ? `hostKey ${c.hostKey}` : `knownHosts ${knownHostsPath(c.knownHostsFile)}`;
  const credentials = createHmac("sha256", pool().salt)
    .update(JSON.stringify([c.privateKey, c.privateKeyPassword, c.password, c.agentSocketPath]))
    .digest("base64");
  return `${target(c)} ${trust} ${credentials}${c.proxy ? ` (${poolKey(c.proxy)})` : ""}`;
}

async function connection(c: Connection): Promise<Pooled> {
  const conns = pool().conns;
  const k = poolKey(c);
  let p = conns.get(k);
  if (!p) {
    p = connectWithRetry(c);
    conns.set(k, p);
    // A failed dial must not poison the pool, and a connection that closes leaves it.
    const mine = p;
    p.then(
      (x) => x.ssh.connection?.on("close", () => conns.get(k) === mine && conns.delete(k)),
      () => conns.get(k) === mine && conns.delete(k),
    );
  }
  return p;
}

/** Resolves once the host's pooled connection is up (or has failed: the caller's run reports it). */
export function connected(c: Connection): Promise<void> {
  return connection(c).then(
    () => undefined,
    () => undefined,
  );
}

/**
 * The script under its deadline, on the host: `timeout` runs it in a process group of its own
 * (TERM at the deadline, KILL 5 s later), and a watcher kills that group as soon as our stdin
 * closes: the client gave up, or the connection dropped (sshd's SIGHUP spares what ignores it).
 */
export function deadlined(script: Raw, seconds: number): Raw {
  return sh`exec 3<&0 </dev/null
timeout -k 5 ${seconds} sh -c ${script.text} & job=$!
{ while read -r _; do :; done <&3; kill -s KILL -- -$job $job; } >/dev/null 2>&1 & watch=$!
wait $job; rc=$?
kill $watch 2>/dev/null
exit $rc`;
}

/** Wraps a script for the remote login shell: plain `sh -c` as root, `sudo` otherwise. */
export function remoteCommand(c: Pick<Connection, "user" | "sudoPassword">, script: Raw): string {
  const body = quote(script.text);
  if (c.user === "root") return `sh -c ${body}`;
  return c.sudoPassword ? `sudo -S -p '' -- sh -c ${body}` : `sudo -n -- sh -c ${body}`;
}

// A single argv string is capped by the kernel (MAX_ARG_STRLEN = 128 KiB).
const MAX_SCRIPT = 120 * 1024;
// How long a command that missed its deadline may take to die once told to (a loaded host can
// take seconds just to start the command it is told to stop).
export const KILL_GRACE_MS = 30_000;

/** A command that outlived its deadline; `stopped`: the host reported it gone. */
export class CommandTimeout extends HostError {
  /** The message without the host. */
  readonly reason: string;
  constructor(
    host: string,
    seconds: number,
    readonly stopped: boolean,
  ) {
    const reason = stopped
      ? `command timed out after ${seconds}s; the remote command was killed`
      : `command timed out after ${seconds}s and could not confirm it stopped: the host may still be changing`;
    super(host, reason);
    this.reason = reason;
  }
}

/** Runs one script over the pooled connection; one exec channel, one round trip. */
export async function run(
  c: Connection,
  script: Raw,
  opts: { timeoutMs?: number; holdingHost?: boolean } = {},
): Promise<ExecResult> {
  if (!opts.holdingHost) return sharingHost(c, () => run(c, script, { ...opts, holdingHost: true }));
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const seconds = Math.ceil(timeoutMs / 1000);
  const command = remoteCommand(c, deadlined(script, seconds));
  if (command.length > MAX_SCRIPT)
    throw new HostError(
      target(c),
      `script of ${script.text.length} bytes (${command.length} quoted) exceeds the ${MAX_SCRIPT}-byte limit of one command line`,
    );
  const pooled = await connection(c);
  return pooled.slots.run(async () => {
    let timer: NodeJS.Timeout | undefined;
    // Our end of the remote watcher's stdin: open while we wait, closed to stop the command.
    const stdin = new PassThrough();
    if (c.user !== "root" && c.sudoPassword) stdin.write(c.sudoPassword + "\n");
    let channel: { close(): void } | undefined;
    // Collect raw bytes and decode once: decoding per chunk would split multi-byte characters.
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exec = pooled.ssh
      .execCommand(command, {
        stdin,
        noTrim: true,
        onChannel: (ch) => (channel = ch),
        onStdout: (b) => out.push(b),
        onStderr: (b) => err.push(b),
      })
      .then((r) => ({
        code: r.code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      }));
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), timeoutMs)));
    try {
      const r = await Promise.race([exec, late]);
      if (r === "late") {
        stdin.end();
        const grace = new Promise<"late">((res) => (timer = setTimeout(() => res("late"), KILL_GRACE_MS)));
        const stopped = (await Promise.race([exec, grace])) !== "late";
        if (!stopped) channel?.close();
        throw new CommandTimeout(target(c), seconds, stopped);
      }
      throwIfSudoRefused(c, r.stderr);
      return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
    } finally {
      clearTimeout(timer);
      stdin.end();
    }
  });
}

/** Drops the pooled connection to this target (e.g. after a change that may have cut it). */
export function dropConnection(c: Connection): void {
  const conns = pool().conns;
  const k = poolKey(c);
  const p = conns.get(k);
  conns.delete(k);
  p?.then(
    (x) => x.ssh.dispose(),
    () => {},
  );
}

/** Closes every pooled connection so the plugin process can exit. */
export function closeAll(): void {
  const conns = pool().conns;
  for (const p of conns.values())
    p.then(
      (x) => x.ssh.dispose(),
      () => {},
    );
  conns.clear();
}

/** sudo asking for a password it was not given is a clear error, whatever the command was. */
export function throwIfSudoRefused(c: Connection, stderr: string): void {
  if (c.user !== "root" && /sudo: (a password is required|a terminal is required)/.test(stderr))
    throw new HostError(
      target(c),
      `sudo needs a password for ${c.user}: set connection.sudoPassword or allow NOPASSWD`,
    );
}

/** The part of ssh2's exec channel that openChannel uses (node-ssh ships no ssh2 types). */
interface ExecStream extends NodeJS.ReadableStream {
  stderr: NodeJS.ReadableStream;
  write(data: string | Buffer): void;
  end(): void;
}

/** A long-lived command on the host: its output, bytes to its stdin, and its end. */
export interface Channel {
  stdout: NodeJS.ReadableStream;
  stderr(): string;
  write(data: string | Buffer): void;
  close(): void;
  closed: Promise<number | null>;
}

/**
 * Opens a long-lived exec channel on the pooled connection (one channel slot while it lives):
 * the caller reads its output as it comes and ends it by closing its stdin. Used where a host
 * resource must outlive one command (the host lock).
 */
export async function openChannel(c: Connection, script: Raw): Promise<Channel> {
  const pooled = await connection(c);
  const client = pooled.ssh.connection;
  if (!client) throw new HostError(target(c), "the SSH connection closed");
  let opened!: (v: Channel) => void;
  let failed!: (e: Error) => void;
  const ready = new Promise<Parameters<typeof opened>[0]>((res, rej) => ((opened = res), (failed = rej)));
  void pooled.slots.run(
    () =>
      new Promise<void>((done) => {
        client.exec(remoteCommand(c, script), (err: Error | undefined, stream: ExecStream) => {
          if (err) {
            done();
            return failed(new HostError(target(c), `cannot open a channel: ${err.message}`));
          }
          if (c.user !== "root" && c.sudoPassword) stream.write(c.sudoPassword + "\n");
          const closed = new Promise<number | null>((res) =>
            stream.on("close", (code: number | null) => res(code ?? null)),
          );
          void closed.then(() => done());
          let said = "";
          stream.stderr.on("data", (b: Buffer) => (said += b.toString()));
          // Writing to or closing a channel the connection already lost is a no-op, never an error.
          const quietly = (fn: () => void) => {
            try {
              fn();
            } catch {
              /* already closed */
            }
          };
          opened({
            stdout: stream,
            stderr: () => said,
            write: (data) => quietly(() => stream.write(data)),
            close: () => quietly(() => stream.end()),
            closed,
          });
        });
      }),
  );
  return ready;
}
