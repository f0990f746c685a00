// A fleet of real OpenSSH servers on loopback addresses (127.0.1.1, 127.0.1.2, ...), each a
// "host" of its own for benchmarks and fleet tests: its own host key and log, and its own
// mount namespace in which what hosttune (or Ansible) writes lands in the host's folder under
// the fleet's directory, never on this machine: a private /run, and bind mounts on /root,
// /etc/sysctl.d, /etc/udev/rules.d and /var/lib/hosttune. With `udevd`, each host also runs a
// systemd-udevd of its own (private /run/udev, its own network namespace, no system rules), so
// `udevadm control --reload` is real and reaches nothing of this machine's devices. A fleet
// larger than this machine's inotify instances allow (a udevd takes one) shares udevds: hosts
// in groups, the group's /run/udev one folder, its udevd started by the group's first host (and
// reading that host's rules).
// Every process is a child of the caller, stopped by its pid.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, rmSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

const SSHD = "/usr/sbin/sshd";
const UDEVD = "/lib/systemd/systemd-udevd";

export interface FleetOptions {
  n: number;
  /** A folder the fleet owns (created): keys, configs, logs and each host's files. */
  dir: string;
  /** The port every host listens on (default 22: each host has an address of its own). */
  port?: number;
  /** Run a udevd per host (needs the udev package). */
  udevd?: boolean;
}

export interface SshdHost {
  name: string;
  address: string;
  port: number;
  /** The host key's public line ("ssh-ed25519 AAAA..."). */
  hostKey: string;
  /** The host's own folder: what it writes to /etc/sysctl.d is in `${dir}/sysctl.d`, etc. */
  dir: string;
  running(): boolean;
  /** Stops the host as a crash would: the listener, its sessions and its udevd. */
  stop(): void;
  start(): Promise<void>;
  /** Connections sshd accepted so far (from its own log). */
  accepted(): number;
  /** Sessions (commands, shells, SFTP) sshd started so far. */
  sessions(): number;
}

export interface SshdFleet {
  dir: string;
  hosts: SshdHost[];
  /** The client's private key file, accepted by every host as root. */
  keyPath: string;
  /** known_hosts for every host (address and port). */
  knownHostsFile: string;
  stop(): void;
}

/** 127.0.1.1 .. 127.0.1.254, then 127.0.2.1 ...: never 127.0.0.1, which other servers use. */
export function fleetAddress(i: number): string {
  return `127.0.${1 + Math.floor(i / 254)}.${1 + (i % 254)}`;
}

// The host's namespace: its folders on the paths hosttune and Ansible write, then sshd (exec:
// the child's pid is sshd's). Positional: $1 host dir, $2 sshd config, $3 start a udevd (1 or 0),
// $4 the group's /run/udev folder ("": the host's own).
const NAMESPACE = String.raw`set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/udev /run/lock
[ -z "$4" ] || mount --bind "$4" /run/udev
mount --bind "$1/root" /root
mount --bind "$1/sysctl.d" /etc/sysctl.d
mount --bind "$1/rules.d" /etc/udev/rules.d
mount --bind "$1/var-lib-hosttune" /var/lib/hosttune
if [ "$3" = 1 ]; then
  mount --bind "$1/empty" /lib/udev/rules.d
  unshare -n ${UDEVD} >"$1/udevd.log" 2>&1 &
  echo $! >"$1/udevd.pid"
fi
exec ${SSHD} -D -f "$2" -E "$1/sshd.log"`;

function keygen(file: string, comment: string): void {
  if (!existsSync(file)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
}

function listening(address: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, address, () => {
      s.destroy();
      r(true);
    }).on("error", () => r(false));
  });
}

/** A host's udevd: none, its own, or its group's (`leads`: it starts the group's; `run`: its folder). */
type Udevd = { leads: boolean; run: string } | null;

function makeHost(fleetDir: string, i: number, port: number, udevd: Udevd, keyPub: string): SshdHost {
  const name = `h${i + 1}`;
  const address = fleetAddress(i);
  const dir = join(fleetDir, name);
  for (const d of ["root", "sysctl.d", "rules.d", "var-lib-hosttune", "empty"])
    mkdirSync(join(dir, d), { recursive: true });
  keygen(join(dir, "host_key"), name);
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `ListenAddress ${address}:${port}`,
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(fleetDir, "authorized_keys")}`,
      "PidFile none",
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "StrictModes no",
      "MaxSessions 100",
      "MaxStartups 200",
      // VERBOSE: sshd logs each session it starts, not only each connection.
      "LogLevel VERBOSE",
      // As on a stock Debian host (Ansible copies its modules over SFTP).
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );
  writeFileSync(join(fleetDir, "authorized_keys"), keyPub);
  const hostKey = readFileSync(join(dir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  const log = join(dir, "sshd.log");
  const count = (line: RegExp) => (existsSync(log) ? (readFileSync(log, "utf8").match(line)?.length ?? 0) : 0);
  let child: ChildProcess | undefined;
  const kill = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone already */
    }
  };
  const host: SshdHost = {
    name,
    address,
    port,
    hostKey,
    dir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop() {
      // udevd first, so that it stops its workers (also when sshd never came up: it outlived a
      // fleet whose sshd could not bind); then sshd's sessions, then sshd.
      if (udevd?.leads && existsSync(join(dir, "udevd.pid"))) {
        kill(Number(readFileSync(join(dir, "udevd.pid"), "utf8")), "SIGTERM");
        rmSync(join(dir, "udevd.pid"), { force: true });
      }
      const pid = child?.pid;
      if (!pid || !host.running()) return;
      spawnSync("pkill", ["-KILL", "-P", String(pid)]);
      kill(pid, "SIGKILL");
    },
    async start() {
      if (host.running()) return;
      child = spawn(
        "unshare",
        [
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          NAMESPACE,
          "sh",
          dir,
          config,
          udevd?.leads ? "1" : "0",
          udevd?.run ?? "",
        ],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      let err = "";
      child.stderr!.on("data", (b) => (err += b));
      const deadline = Date.now() + 60_000;
      while (!(await listening(address, port))) {
        if (!host.running() || Date.now() > deadline)
          throw new Error(
            `${name}: sshd did not listen on ${address}:${port}: ${err}${existsSync(log) ? readFileSync(log, "utf8").slice(-500) : ""}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    sessions: () => count(/^.*Starting session: /gm),
    accepted: () => count(/^.*Accepted publickey for /gm),
  };
  return host;
}

// Inotify instances left to others (an editor, a test runner's watcher) when udevds are counted.
const INOTIFY_SPARE = 16;

/**
 * Hosts per udevd. Each udevd takes an inotify instance, and a user may hold
 * fs.inotify.max_user_instances (128 on Debian) in all: beyond that, a udevd dies at start and
 * its reloads are refused. A fleet that needs more shares udevds (see the top); one that cannot
 * have even one is refused before anything starts. The bench does not change this machine's sysctls.
 */
export function hostsPerUdevd(n: number): number {
  const limit = Number(readFileSync("/proc/sys/fs/inotify/max_user_instances", "utf8"));
  const find = "find /proc/[0-9]*/fd -lname 'anon_inode:inotify' 2>/dev/null | wc -l";
  const room = limit - Number(spawnSync("sh", ["-c", find], { encoding: "utf8" }).stdout) - INOTIFY_SPARE;
  if (room < 1)
    throw new Error(
      `no inotify instance is left for a udevd: fs.inotify.max_user_instances is ${limit}, and about ` +
        `${limit - room - INOTIFY_SPARE} are in use. Raise it (sysctl -w fs.inotify.max_user_instances=${2 * limit}) ` +
        "or stop what holds them",
    );
  return Math.ceil(n / Math.min(n, room));
}

/** Starts n hosts (keys made once and kept in dir, so a later fleet in the same dir reuses them). */
export async function startSshdFleet(o: FleetOptions): Promise<SshdFleet> {
  for (const [bin, pkg] of [[SSHD, "openssh-server"], ...(o.udevd ? [[UDEVD, "udev"]] : [])])
    if (!existsSync(bin)) throw new Error(`${bin} is missing (Debian package ${pkg})`);
  const perUdevd = o.udevd ? hostsPerUdevd(o.n) : 0;
  mkdirSync(o.dir, { recursive: true });
  // Mount points that must exist on this machine: empty folders, never written through.
  for (const d of ["/run/sshd", "/var/lib/hosttune", "/etc/udev/rules.d", "/etc/sysctl.d"])
    mkdirSync(d, { recursive: true });
  const keyPath = join(o.dir, "client_key");
  keygen(keyPath, "hosttune-bench");
  const pub = readFileSync(`${keyPath}.pub`, "utf8");
  const port = o.port ?? 22;
  const udevd = (i: number): Udevd => {
    if (!perUdevd) return null;
    if (perUdevd === 1) return { leads: true, run: "" };
    // The group's folder, emptied of a former fleet's socket by its first host.
    const run = join(o.dir, `run-udev-${Math.floor(i / perUdevd) + 1}`);
    if (i % perUdevd === 0) rmSync(run, { recursive: true, force: true });
    mkdirSync(run, { recursive: true });
    return { leads: i % perUdevd === 0, run };
  };
  const hosts = Array.from({ length: o.n }, (_, i) => makeHost(o.dir, i, port, udevd(i), pub));
  const knownHostsFile = join(o.dir, "known_hosts");
  writeFileSync(
    knownHostsFile,
    hosts.map((h) => `${port === 22 ? h.address : `[${h.address}]:${port}`} ${h.hostKey}\n`).join(""),
  );
  const fleet: SshdFleet = { dir: o.dir, hosts, keyPath, knownHostsFile, stop: () => hosts.forEach((h) => h.stop()) };
  try {
    // A few at a time: 500 key loads and namespace setups at once would only thrash 2 cores.
    for (let i = 0; i < hosts.length; i += 16) await Promise.all(hosts.slice(i, i + 16).map((h) => h.start()));
  } catch (e) {
    fleet.stop();
    throw e;
  }
  return fleet;
}
