// The benchmark's stacks: the real Pulumi CLI (built offline by scripts/toolchain.sh) through
// the Automation API, so a measurement can run an inline program of its own.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { LocalWorkspace, PulumiCommand, type PulumiFn, type Stack } from "@pulumi/pulumi/automation";
import { pulumiEnv, ROOT, toolchainRoot } from "./env";

export async function openStack(stackName: string, program: PulumiFn): Promise<Stack> {
  const env = pulumiEnv();
  mkdirSync(join(ROOT, ".hosttune", "state"), { recursive: true });
  Object.assign(process.env, env);
  const pulumiCommand = await PulumiCommand.get({ root: toolchainRoot(), skipVersionCheck: true });
  return LocalWorkspace.createOrSelectStack(
    { stackName, projectName: "hosttune", program },
    { workDir: ROOT, pulumiCommand, envVars: env },
  );
}
