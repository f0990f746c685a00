// `npm run bench:fleet` (never a timed test): a converged fleet of N real sshd hosts on loopback
// addresses (bench/sshdFleet.ts), 6 resources per host (DefaultQdisc + 5 UdevRules), and side by
// side, interleaved, repeated: hosttune's plain `pulumi preview`, Ansible's check mode doing the
// same reads (defaults, and tuned), and the floor (one plain ssh per host, all at once, one
// script reading the same files). Then a change of one value on every host: hosttune's `up` vs
// the floor's equivalent. Connections per host per run come from each sshd's own log.
// At a latency > 0 every host is reached through a toxiproxy in front of it (both directions
// delayed by half the round trip). Prints a table, writes JSON and an SVG plot.
// Usage: node dist/bench/fleet.js <outDir> [--sizes 10,50,200] [--rounds 3] [--latency 0,20]
//   [--latency-sizes 50] [--ansible-rounds 1] [--ansible-up-to 50] [--ansible-defaults-up-to 50]
//   --toxiproxy <server>; or: node dist/bench/fleet.js <outDir> --from-log <its output>
import { spawn } from "node:child_process";
import { request } from "node:http";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UDEV_RELOAD } from "../providers/core/files";
import { ROOT } from "./env";
import { type SshdFleet, startSshdFleet } from "./sshdFleet";
import { plotFleet } from "./plot";

const { clearStaleLocks } = require(join(ROOT, "scripts", "stale-locks.js")) as {
  clearStaleLocks: (dir: string, project: string, stack: string) => unknown[];
};

interface Run {
  contender: string;
  op: "preview" | "change";
  hosts: number;
  latencyMs: number;
  round: number;
  seconds: number;
  /** Connections sshd accepted per host during the run: min and max over the hosts. */
  connsMin: number;
  connsMax: number;
  /** Sessions (one per command or file transfer) per host during the run: min and max. */
  sessionsMin: number;
  sessionsMax: number;
  ok: boolean;
}

const args = process.argv.slice(2);
const outDir = args[0];
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i > 0 ? args[i + 1] : dflt;
};
const SIZES = opt("sizes", "10,50,200").split(",").map(Number);
const ROUNDS = Number(opt("rounds", "3"));
const LATENCIES = opt("latency", "0,20").split(",").map(Number);
// Ansible takes minutes per run here: fewer rounds of it, and its defaults (5 forks) only up to a size.
const ANSIBLE_ROUNDS = Number(opt("ansible-rounds", String(ROUNDS)));
const ANSIBLE_DEFAULTS_UP_TO = Number(opt("ansible-defaults-up-to", "50"));
const ANSIBLE_UP_TO = Number(opt("ansible-up-to", "1000000"));
// Sizes measured at a latency above 0 (all by default).
const LATENCY_SIZES = opt("latency-sizes", "").split(",").filter(Boolean).map(Number);
const TOXIPROXY = opt("toxiproxy", "");
// Only the table, JSON and plot, from the output of an earlier run.
const FROM_LOG = opt("from-log", "");
const PROXY_PORT = 2222;
const RULES = 5;
const STACK_STATE = join(outDir, "state");

function run(cmd: string, argv: string[], env: Record<string, string> = {}, input?: string) {
  return new Promise<{ code: number; out: string }>((resolve, reject) => {
    const c = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout!.on("data", (b) => (out += b));
    c.stderr!.on("data", (b) => (out += b));
    if (input) c.stdin!.end(input);
    c.on("error", reject);
    c.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

async function timed(fn: () => Promise<boolean>): Promise<[number, boolean]> {
  const t0 = performance.now();
  const ok = await fn();
  return [(performance.now() - t0) / 1000, ok];
}

// ---- hosttune: the user's own command, bin/pulumi, on a stack of the real program ----
const PULUMI_ENV = {
  PULUMI_BACKEND_URL: `file://${STACK_STATE}`,
  PULUMI_CONFIG_PASSPHRASE: "hosttune-bench",
};
async function pulumi(stack: string, argv: string[]): Promise<{ code: number; out: string }> {
  return run(join(ROOT, "bin", "pulumi"), [...argv, "--stack", stack, "--non-interactive", "--cwd", ROOT], PULUMI_ENV);
}
async function mustPulumi(stack: string, argv: string[]): Promise<string> {
  const r = await pulumi(stack, argv);
  if (r.code !== 0) throw new Error(`pulumi ${argv.join(" ")} --stack ${stack} failed:\n${r.out.slice(-4000)}`);
  return r.out;
}

async function pulumiOk(stack: string, argv: string[]): Promise<boolean> {
  const r = await pulumi(stack, argv);
  if (r.code !== 0) console.error(`pulumi ${argv.join(" ")}: rc ${r.code}\n${r.out.slice(-3000)}`);
  return r.code === 0;
}

function ruleContent(k: number, variant: number): string {
  const match = `ACTION=="add", SUBSYSTEM=="net", KERNEL=="bench${k}*"`;
  const run = `RUN+="/sbin/tc qdisc replace dev $env{INTERFACE} root handle 1000: noqueue"`;
  return `${variant ? `# v${variant}\n` : ""}${match}, ${run}\n`;
}

function tuning(qdisc: string, variant: number) {
  return {
    // The machine's own value: the runtime is never written, only each host's file.
    defaultQdisc: { qdisc },
    udevRules: Array.from({ length: RULES }, (_, k) => ({
      fileName: `9${k}-bench-${k}.rules`,
      content: ruleContent(k, k === 0 ? variant : 0),
    })),
  };
}

const knownLine = (t: Target) => `${t.port === 22 ? t.address : `[${t.address}]:${t.port}`} ${t.hostKey}\n`;

interface Target {
  name: string;
  address: string;
  port: number;
  hostKey: string;
}

async function hosttuneStack(fleet: SshdFleet, targets: Target[], qdisc: string, latency: number) {
  const stack = `bench-${targets.length}-${latency}ms`;
  // A bench run killed mid-way leaves its lock on the stack.
  clearStaleLocks(STACK_STATE, "hosttune", stack);
  await pulumi(stack, ["stack", "rm", "--yes", "--force"]);
  await mustPulumi(stack, ["stack", "init"]);
  const config = {
    hosts: targets.map((t) => ({ name: t.name, host: t.address, port: t.port, hostKey: t.hostKey })),
    privateKeyPath: fleet.keyPath,
  };
  const set = (variant: number) =>
    mustPulumi(stack, [
      "config",
      "set-all",
      ...Object.entries({ ...config, tuning: tuning(qdisc, variant) }).flatMap(([k, v]) => [
        "--plaintext",
        `hosttune:${k}=${typeof v === "string" ? v : JSON.stringify(v)}`,
      ]),
    ]);
  return { stack, set };
}

// ---- Ansible: the same reads in check mode ----
function ansibleFiles(dir: string, fleet: SshdFleet, targets: Target[], sample: string) {
  mkdirSync(dir, { recursive: true });
  const sysctlFile = readdirOne(join(sample, "sysctl.d"));
  const inventory = [
    "[fleet]",
    ...targets.map((t) => `${t.name} ansible_host=${t.address} ansible_port=${t.port}`),
    "[fleet:vars]",
    "ansible_user=root",
    `ansible_ssh_private_key_file=${fleet.keyPath}`,
    `ansible_ssh_common_args=-o UserKnownHostsFile=${join(dir, "known_hosts")} -o StrictHostKeyChecking=yes`,
    "",
  ].join("\n");
  writeFileSync(join(dir, "known_hosts"), targets.map(knownLine).join(""));
  writeFileSync(join(dir, "inventory"), inventory);
  const files = [
    { dest: `/etc/sysctl.d/${sysctlFile}`, src: join(sample, "sysctl.d", sysctlFile) },
    ...Array.from({ length: RULES }, (_, k) => ({
      dest: `/etc/udev/rules.d/9${k}-bench-${k}.rules`,
      src: join(sample, "rules.d", `9${k}-bench-${k}.rules`),
    })),
  ];
  // What hosttune reads, as Ansible tasks: the runtime value, then each file against its content.
  const play = [
    "- hosts: fleet",
    "  gather_facts: false",
    "  tasks:",
    "    - name: runtime default qdisc",
    "      command: sysctl -n net.core.default_qdisc",
    "      check_mode: false",
    "      changed_when: false",
    ...files.flatMap((f) => [
      `    - name: ${f.dest}`,
      "      copy:",
      `        dest: ${f.dest}`,
      `        content: ${JSON.stringify(readFileSync(f.src, "utf8"))}`,
      "        mode: '0644'",
    ]),
    "",
  ].join("\n");
  writeFileSync(join(dir, "check.yml"), play);
  writeFileSync(join(dir, "default.cfg"), "[defaults]\n");
  writeFileSync(
    join(dir, "tuned.cfg"),
    [
      "[defaults]",
      `forks = ${Math.min(targets.length, 200)}`,
      "interpreter_python = /usr/bin/python3",
      "[ssh_connection]",
      "pipelining = True",
      "ssh_args = -o ControlMaster=auto -o ControlPersist=60s",
      "",
    ].join("\n"),
  );
}

function readdirOne(dir: string): string {
  const names = require("node:fs").readdirSync(dir) as string[];
  if (names.length !== 1) throw new Error(`expected one file in ${dir}, found ${names.join(", ")}`);
  return names[0];
}

async function ansible(dir: string, cfg: "default" | "tuned"): Promise<boolean> {
  // A control path folder per run, so no master connection outlives its run into the next.
  const cp = join(dir, `cp-${Date.now()}`);
  mkdirSync(cp);
  const r = await run("ansible-playbook", ["-i", join(dir, "inventory"), "--check", join(dir, "check.yml")], {
    ANSIBLE_CONFIG: join(dir, `${cfg}.cfg`),
    ANSIBLE_SSH_CONTROL_PATH_DIR: cp,
    ANSIBLE_NOCOLOR: "1",
  });
  await run("sh", [
    "-c",
    'for s in "$1"/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done; true',
    "sh",
    cp,
  ]);
  rmSync(cp, { recursive: true, force: true });
  const recap = r.out.split("PLAY RECAP")[1] ?? "";
  const ok = r.code === 0 && !/changed=[1-9]|unreachable=[1-9]|failed=[1-9]/.test(recap);
  if (!ok) console.error(`ansible ${cfg}: rc ${r.code}\n${r.out.slice(-2000)}`);
  return ok;
}

// ---- the floor: one plain ssh per host, all at once ----
function floorArgs(fleet: SshdFleet, t: Target, known: string): string[] {
  return [
    "-i",
    fleet.keyPath,
    "-o",
    `UserKnownHostsFile=${known}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-p",
    String(t.port),
    `root@${t.address}`,
  ];
}
async function floor(fleet: SshdFleet, targets: Target[], known: string, script: string): Promise<boolean> {
  const rs = await Promise.all(targets.map((t) => run("ssh", [...floorArgs(fleet, t, known), script])));
  const bad = rs.filter((r) => r.code !== 0);
  if (bad.length) console.error(`floor: ${bad.length} failed: ${bad[0].out}`);
  return bad.length === 0;
}

// ---- toxiproxy: a proxy per host on the same address, port 2222, latency each way ----
async function toxiproxy(fleet: SshdFleet, latencyMs: number) {
  const api = { host: "127.0.0.1", port: 8474 };
  const child = spawn(TOXIPROXY, ["-host", api.host, "-port", String(api.port)], { stdio: "ignore" });
  // Its HTTP API on loopback, through node:http (POST a JSON body, expect 2xx).
  const post = (path: string, body: object) =>
    new Promise<void>((resolve, reject) => {
      const req = request({ ...api, path, method: "POST" }, (res) => {
        let text = "";
        res.on("data", (b) => (text += b));
        res.on("end", () =>
          (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`toxiproxy ${path}: ${res.statusCode} ${text}`)),
        );
      });
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
  const call = async (path: string, body: object) => {
    for (let i = 0; ; i++) {
      try {
        await post(path, body);
        return;
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  for (const h of fleet.hosts) {
    await call("/proxies", { name: h.name, listen: `${h.address}:${PROXY_PORT}`, upstream: `${h.address}:${h.port}` });
    for (const stream of ["upstream", "downstream"])
      await call(`/proxies/${h.name}/toxics`, {
        name: `lat-${stream}`,
        type: "latency",
        stream,
        attributes: { latency: latencyMs / 2, jitter: 0 },
      });
  }
  return { stop: () => child.kill("SIGKILL") };
}

function spread(now: number[], before: number[]): [number, number] {
  const d = now.map((x, i) => x - before[i]);
  return [Math.min(...d), Math.max(...d)];
}

async function measure(
  results: Run[],
  fleet: SshdFleet,
  base: Pick<Run, "hosts" | "latencyMs" | "round">,
  op: Run["op"],
  contender: string,
  fn: () => Promise<boolean>,
) {
  const accepted = () => fleet.hosts.map((h) => h.accepted());
  const sessions = () => fleet.hosts.map((h) => h.sessions());
  const [a0, s0] = [accepted(), sessions()];
  const [seconds, ok] = await timed(fn);
  const [connsMin, connsMax] = spread(accepted(), a0);
  const [sessionsMin, sessionsMax] = spread(sessions(), s0);
  const r = { ...base, op, contender, seconds, connsMin, connsMax, sessionsMin, sessionsMax, ok };
  results.push(r);
  console.log(
    `  n=${r.hosts} ${r.latencyMs}ms r${r.round} ${op.padEnd(7)} ${contender.padEnd(22)} ` +
      `${seconds.toFixed(2).padStart(7)} s  conns/host ${connsMin}-${connsMax} ` +
      `sessions/host ${sessionsMin}-${sessionsMax}${ok ? "" : "  FAILED"}`,
  );
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  const qdisc = readFileSync("/proc/sys/net/core/default_qdisc", "utf8").trim();
  const results: Run[] = [];
  for (const n of SIZES) {
    const fleet = await startSshdFleet({ n, dir: join(outDir, "fleet"), udevd: true });
    // Interrupted (Ctrl-C, a kill): the fleet's sshd and udevd are stopped, not orphaned.
    const interrupted = (signal: NodeJS.Signals) => {
      fleet.stop();
      process.exit(128 + (signal === "SIGINT" ? 2 : 15));
    };
    process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
    try {
      for (const latency of LATENCIES.filter((l) => l === 0 || !LATENCY_SIZES.length || LATENCY_SIZES.includes(n))) {
        if (latency > 0 && !TOXIPROXY) throw new Error("--toxiproxy <server binary> is needed for a latency > 0");
        const proxy = latency > 0 ? await toxiproxy(fleet, latency) : undefined;
        try {
          const targets = fleet.hosts.map((h) => ({
            name: h.name,
            address: h.address,
            port: latency > 0 ? PROXY_PORT : h.port,
            hostKey: h.hostKey,
          }));
          const known = join(outDir, "known_hosts");
          writeFileSync(known, targets.map(knownLine).join(""));
          const { stack, set } = await hosttuneStack(fleet, targets, qdisc, latency);
          await set(0);
          const tUp = await timed(async () => (await pulumi(stack, ["up", "--yes", "--skip-preview"])).code === 0);
          console.log(
            `n=${n} ${latency}ms: converged by hosttune up in ${tUp[0].toFixed(1)} s${tUp[1] ? "" : " (FAILED)"}`,
          );
          if (!tUp[1]) await mustPulumi(stack, ["up", "--yes", "--skip-preview"]);
          const adir = join(outDir, "ansible");
          ansibleFiles(adir, fleet, targets, fleet.hosts[0].dir);
          const readAll = `sysctl -n net.core.default_qdisc; cat /etc/sysctl.d/* /etc/udev/rules.d/9?-bench-?.rules`;
          for (let round = 1; round <= ROUNDS; round++) {
            const base = { hosts: n, latencyMs: latency, round };
            const m = (c: string, fn: () => Promise<boolean>) => measure(results, fleet, base, "preview", c, fn);
            await m("hosttune preview", () => pulumiOk(stack, ["preview", "--expect-no-changes"]));
            // The engine's own default (4 per CPU), which bin/pulumi raises: a higher -p must never be slower.
            await m("hosttune preview -p 8", () =>
              pulumiOk(stack, ["preview", "--expect-no-changes", "--parallel", "8"]),
            );
            await m("floor (ssh per host)", () => floor(fleet, targets, known, readAll));
            if (round <= ANSIBLE_ROUNDS && n <= ANSIBLE_UP_TO)
              await m("ansible --check tuned", () => ansible(adir, "tuned"));
            if (round <= ANSIBLE_ROUNDS && n <= ANSIBLE_DEFAULTS_UP_TO)
              await m("ansible --check", () => ansible(adir, "default"));
            // One value changed on every host: rule 0's content, alternating.
            const c = (name: string, fn: () => Promise<boolean>) => measure(results, fleet, base, "change", name, fn);
            await set(round);
            await c("hosttune up", () => pulumiOk(stack, ["up", "--yes", "--skip-preview"]));
            const b64 = Buffer.from(ruleContent(0, 0)).toString("base64");
            await c("floor (ssh per host)", () =>
              floor(
                fleet,
                targets,
                known,
                // The reload as hosttune runs it: asked again while a (shared) udevd is busy.
                `f=/etc/udev/rules.d/90-bench-0.rules; echo ${b64} | base64 -d > $f.tmp && mv $f.tmp $f && ${UDEV_RELOAD.run.text}`,
              ),
            );
            await set(0);
            await mustPulumi(stack, ["up", "--yes", "--skip-preview"]);
          }
          await mustPulumi(stack, ["destroy", "--yes", "--skip-preview"]);
          await pulumi(stack, ["stack", "rm", "--yes", "--force"]);
        } finally {
          proxy?.stop();
        }
      }
    } finally {
      process.off("SIGINT", interrupted).off("SIGTERM", interrupted);
      fleet.stop();
    }
  }
  await report(results);
}

async function report(results: Run[]) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "fleet.json"), JSON.stringify({ date: new Date().toISOString(), results }, null, 1));
  printTable(results);
  writeFileSync(join(outDir, "fleet.svg"), await plotFleet(results));
  // A PNG too (Debian's librsvg), for pages that show pictures rather than SVG.
  const png = await run("rsvg-convert", [join(outDir, "fleet.svg"), "-o", join(outDir, "fleet.png")]);
  if (png.code !== 0) console.error(`no fleet.png: ${png.out}`);
  console.log(`\nwrote fleet.json, fleet.svg and fleet.png in ${outDir}`);
}

/** The runs a bench printed, read back from its output (a run cut short still gives its table). */
function runsFromLog(text: string): Run[] {
  const line =
    /^ {2}n=(\d+) (\d+)ms r(\d+) (preview|change)\s+(.+?)\s+([\d.]+) s {2}conns\/host (\d+)-(\d+) sessions\/host (\d+)-(\d+)( {2}FAILED)?$/gm;
  return [...text.matchAll(line)].map((m) => ({
    hosts: Number(m[1]),
    latencyMs: Number(m[2]),
    round: Number(m[3]),
    op: m[4] as Run["op"],
    contender: m[5],
    seconds: Number(m[6]),
    connsMin: Number(m[7]),
    connsMax: Number(m[8]),
    sessionsMin: Number(m[9]),
    sessionsMax: Number(m[10]),
    ok: !m[11],
  }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function printTable(results: Run[]) {
  const groups = new Map<string, Run[]>();
  for (const r of results) {
    const k = `${r.op}|${r.hosts}|${r.latencyMs}|${r.contender}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  console.log(
    "\n| op | hosts | RTT (ms) | contender | min (s) | median (s) | max (s) | connections per host | sessions per host |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const [k, rs] of groups) {
    const [op, hosts, lat, contender] = k.split("|");
    const s = rs.map((r) => r.seconds);
    const range = (lo: number[], hi: number[]) =>
      Math.min(...lo) === Math.max(...hi) ? `${hi[0]}` : `${Math.min(...lo)}-${Math.max(...hi)}`;
    const cs = range(
      rs.map((r) => r.connsMin),
      rs.map((r) => r.connsMax),
    );
    const ss = range(
      rs.map((r) => r.sessionsMin),
      rs.map((r) => r.sessionsMax),
    );
    const failed = rs.some((r) => !r.ok) ? " (failed runs)" : "";
    console.log(
      `| ${[op, hosts, lat, contender + failed, ...[Math.min(...s), median(s), Math.max(...s)].map((x) => x.toFixed(2)), cs, ss].join(" | ")} |`,
    );
  }
}

export type { Run };

if (require.main === module)
  (FROM_LOG ? report(runsFromLog(readFileSync(FROM_LOG, "utf8"))) : main()).catch((e) => {
    console.error(e);
    process.exit(1);
  });
