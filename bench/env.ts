// Where hosttune keeps Pulumi's offline toolchain, state and settings. Everything is local:
// a file backend in the project's .hosttune/ folder, a passphrase for secrets, no update
// checks and no plugin downloads.
import { execFileSync } from "node:child_process";
import { homedir } from "node:os";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** The project directory: the nearest one holding Pulumi.yaml (from bench/ or dist/bench/). */
export const ROOT = ((): string => {
  for (let d = __dirname; d !== dirname(d); d = dirname(d)) if (existsSync(join(d, "Pulumi.yaml"))) return d;
  throw new Error(`hosttune: no Pulumi.yaml above ${__dirname}`);
})();
export const CACHE = process.env.HOSTTUNE_CACHE ?? join(homedir(), ".cache", "hosttune");
/** The lab's documented default; set HOSTTUNE_PASSPHRASE for any real environment. */
export const LAB_PASSPHRASE = "hosttune-lab";

/** Builds the Pulumi CLI if it is not cached; returns the install root (with bin/pulumi). */
export function toolchainRoot(): string {
  return execFileSync("bash", [join(ROOT, "scripts", "toolchain.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

export function pulumiEnv(): Record<string, string> {
  return {
    PULUMI_HOME: join(CACHE, "pulumi-home"),
    PULUMI_BACKEND_URL: process.env.PULUMI_BACKEND_URL ?? `file://${join(ROOT, ".hosttune", "state")}`,
    PULUMI_CONFIG_PASSPHRASE: process.env.HOSTTUNE_PASSPHRASE ?? process.env.PULUMI_CONFIG_PASSPHRASE ?? LAB_PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
  };
}
