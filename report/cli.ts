// `hosttune report --stack ENV`: the fleet as a page people look at. The stack's config says which
// hosts and what they should have; a plain `pulumi preview` says, per resource, whether each host
// has it; each host is then read and measured. Writes report.html (self-contained) and the
// report.json behind it.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ConfigReader, fleetFromConfig } from "../fleet/index";
import { collect, type PreviewStep } from "./collect";
import { renderReport } from "./html";
import { Progress } from "./progress";

const PULUMI = resolve(__dirname, "..", "..", "bin", "pulumi");
const USAGE = `usage: hosttune report --stack ENV [--out DIR] [--window SECONDS] [--stolen-cpu N] [--stolen-seconds SECONDS]
  --stack            the stack (environment) to report on
  --out              where report.html and report.json go (default .hosttune/report/ENV)
  --window           napi_poll window per host, 1-600 s (default 10)
  --stolen-cpu       also measure CPU stolen from a pinned openssl on this CPU (keeps it busy)
  --stolen-seconds   that measurement's length, 1-600 s (default 10)`;

interface Args {
  stack: string;
  out: string;
  window: number;
  stolenCpu?: number;
  stolenSeconds: number;
}

/** Every argument checked before anything runs; all problems at once. */
export function parseArgs(argv: string[]): Args {
  const problems: string[] = [];
  const given: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(stack|out|window|stolen-cpu|stolen-seconds)(?:=(.*))?$/.exec(argv[i]);
    if (!m) {
      problems.push(`unknown argument ${JSON.stringify(argv[i])}`);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value.startsWith("--")) problems.push(`--${m[1]} needs a value`);
    else given[m[1]] = value;
  }
  const seconds = (key: string, dflt: number) => {
    const v = given[key] ?? String(dflt);
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 600) problems.push(`--${key} must be 1-600 seconds, not ${v}`);
    return Number(v);
  };
  const stack = given.stack ?? "";
  if (!stack) problems.push("--stack is required");
  else if (!/^[A-Za-z0-9_.-]+$/.test(stack) || stack.startsWith("-"))
    problems.push(`--stack ${stack}: not a stack name`);
  const cpu = given["stolen-cpu"];
  if (cpu !== undefined && !/^\d{1,4}$/.test(cpu)) problems.push(`--stolen-cpu must be a CPU number, not ${cpu}`);
  const args = {
    stack,
    out: given.out ?? join(".hosttune", "report", stack),
    window: seconds("window", 10),
    stolenCpu: cpu === undefined ? undefined : Number(cpu),
    stolenSeconds: seconds("stolen-seconds", 10),
  };
  if (problems.length) throw new Error(`${problems.join("\n")}\n${USAGE}`);
  return args;
}

function pulumi(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const c = spawn(PULUMI, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (b) => (stdout += b));
    c.stderr.on("data", (b) => (stderr += b));
    c.on("error", fail);
    c.on("close", (code) => done({ code: code ?? 1, stdout, stderr }));
  });
}

/** `pulumi config --json` as the program's pulumi.Config would read it. */
function configReader(json: Record<string, { value?: string; objectValue?: unknown }>): ConfigReader {
  const entry = (key: string) => json[`hosttune:${key}`];
  return {
    getObject: <T>(key: string) => {
      const e = entry(key);
      return (e?.objectValue ?? (e?.value === undefined ? undefined : JSON.parse(e.value))) as T | undefined;
    },
    get: (key) => entry(key)?.value,
    getNumber: (key) => (entry(key)?.value === undefined ? undefined : Number(entry(key)?.value)),
  };
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] !== "report") {
    console.error(USAGE);
    return 2;
  }
  let args: Args;
  try {
    args = parseArgs(argv.slice(1));
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const config = await pulumi(["config", "--json", "--show-secrets", "--stack", args.stack]);
  if (config.code !== 0) {
    console.error(`hosttune report: cannot read the config of stack ${args.stack}:\n${config.stderr.trim()}`);
    return 1;
  }
  const cfg = configReader(JSON.parse(config.stdout));
  const fleet = fleetFromConfig(cfg);
  const secrets = {
    privateKey: cfg.get("privateKey"),
    password: cfg.get("password"),
    sudoPassword: cfg.get("sudoPassword"),
  };
  const progress = new Progress(fleet.hosts.length, process.stderr);
  progress.line(`previewing stack ${args.stack} (${fleet.hosts.length} hosts)`);
  const preview = await pulumi(["preview", "--json", "--non-interactive", "--stack", args.stack]);
  let steps: PreviewStep[] = [];
  try {
    steps = JSON.parse(preview.stdout).steps ?? [];
  } catch {
    progress.line(
      `the preview gave no result (rc ${preview.code}); resource states are unknown:\n${preview.stderr.trim()}`,
    );
  }
  let report;
  try {
    report = await collect(args.stack, fleet, secrets, steps, { ...args, progress });
  } finally {
    progress.stop();
  }
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, "report.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(args.out, "report.html"), await renderReport(report));
  const down = report.hosts.filter((h) => !h.reachable).map((h) => h.name);
  console.log(join(args.out, "report.html"));
  if (down.length) console.error(`hosttune report: could not read ${down.join(", ")}`);
  return 0;
}
