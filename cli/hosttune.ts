// `hosttune <preview|up|refresh|destroy|outputs> [--stack ENV] [--expect-no-changes]`: runs
// the real Pulumi CLI (built offline by scripts/toolchain.sh) on a stack of this project.
// The program runs in-process through the Automation API (inline program), because the
// Node.js language host cannot be built here (see scripts/toolchain.sh).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LocalWorkspace, PulumiCommand, type PulumiFn, type Stack } from "@pulumi/pulumi/automation";
import program from "../index";
import { pulumiEnv, ROOT, toolchainRoot } from "./env";

export async function openStack(stackName: string, prog: PulumiFn = program): Promise<Stack> {
  const env = pulumiEnv();
  mkdirSync(join(ROOT, ".hosttune", "state"), { recursive: true });
  Object.assign(process.env, env);
  const pulumiCommand = await PulumiCommand.get({ root: toolchainRoot(), skipVersionCheck: true });
  return LocalWorkspace.createOrSelectStack(
    { stackName, projectName: "hosttune", program: prog },
    { workDir: ROOT, pulumiCommand, envVars: env },
  );
}

const USAGE = "usage: hosttune <preview|up|refresh|destroy|outputs> [--stack ENV] [--expect-no-changes] [--diff]";

async function main(argv: string[]): Promise<number> {
  const [op, ...rest] = argv;
  const flag = (f: string) => rest.includes(f);
  const si = rest.indexOf("--stack");
  const stackName = si >= 0 ? rest[si + 1] : (process.env.HOSTTUNE_STACK ?? "lab");
  if (!op || !["preview", "up", "refresh", "destroy", "outputs"].includes(op)) {
    console.error(USAGE);
    return 2;
  }
  const stack = await openStack(stackName);
  const common = { onOutput: (s: string) => process.stdout.write(s), color: "never" as const, diff: flag("--diff") };
  switch (op) {
    case "preview": {
      const r = await stack.preview({ ...common, expectNoChanges: flag("--expect-no-changes") });
      console.log(`\nhosttune: preview of ${stackName}: ${JSON.stringify(r.changeSummary)}`);
      break;
    }
    case "up": {
      const r = await stack.up({ ...common, expectNoChanges: flag("--expect-no-changes") });
      console.log(`\nhosttune: up of ${stackName}: ${JSON.stringify(r.summary.resourceChanges)}`);
      break;
    }
    case "refresh":
      await stack.refresh({ ...common, expectNoChanges: flag("--expect-no-changes") });
      break;
    case "destroy":
      await stack.destroy(common);
      break;
    case "outputs":
      console.log(JSON.stringify(await stack.outputs(), null, 2));
      break;
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      // The CLI's own output already streamed; keep the failure short and on stderr.
      console.error(`hosttune: ${(e as Error).message.split("\n").slice(-30).join("\n")}`);
      process.exit(1);
    },
  );
}
