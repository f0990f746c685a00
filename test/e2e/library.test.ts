// hosttune as a library: a throwaway Pulumi project outside this repo depends on the package
// (installed from this checkout as npm installs any package: a copy, with its dependencies),
// declares one HostTuning for a lab VM in a few lines of TypeScript, and runs its own
// `npx pulumi` (the package's bin): stack init, config set --secret, up, a no-change preview
// and destroy. No HOSTTUNE_* variable is set: the provider is found from the project's own
// dependencies.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_DIR, labVms, onVm, REPO } from "./lab";

const [vm] = labVms();
const RULE = "/etc/udev/rules.d/91-hosttune-library.rules";
const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { HostTuning } from "hosttune";

const cfg = new pulumi.Config();
const connection = {
  host: "127.0.0.1",
  port: cfg.requireNumber("port"),
  hostKey: cfg.require("hostKey"),
  privateKey: cfg.requireSecret("privateKey"),
};
const vm = new HostTuning("vm", {
  connection,
  tuning: { defaultQdisc: { qdisc: "pfifo_fast" }, udevRules: [{ fileName: "91-hosttune-library.rules", content: "# hosttune library e2e\\n" }] },
});
export const drift = vm.drift;
`;

let dir: string;
let before: string;
// The environment a user's shell has: no HOSTTUNE_* variables, only a passphrase of their own.
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith("HOSTTUNE_") && !k.startsWith("PULUMI_")),
);

// Asynchronous, so the test runner's worker stays responsive while a command runs.
const exec = promisify(execFile);

async function npx(args: string[], input?: string) {
  const p = exec("npx", ["--no-install", "pulumi", ...args, "--non-interactive"], {
    cwd: dir,
    env: { ...env, PULUMI_CONFIG_PASSPHRASE: "library-e2e" },
    maxBuffer: 64 << 20,
  });
  p.child.stdin?.end(input);
  const r = await p.catch((e: { code?: number; stdout?: string; stderr?: string }) => {
    throw new Error(`npx pulumi ${args.join(" ")} (rc ${e.code}):\n${e.stdout}\n${e.stderr}`);
  });
  return r.stdout + r.stderr;
}

const state = () => onVm(vm, `sysctl -n net.core.default_qdisc; cat ${RULE} 2>/dev/null || echo ABSENT`);

beforeAll(async () => {
  before = state();
  dir = mkdtempSync(join(tmpdir(), "hosttune-library-"));
  writeFileSync(join(dir, "Pulumi.yaml"), "name: tune-my-fleet\nruntime: nodejs\nmain: index.ts\n");
  writeFileSync(join(dir, "index.ts"), PROGRAM);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({
      name: "tune-my-fleet",
      private: true,
      dependencies: { hosttune: `file:${REPO}` },
      devDependencies: { typescript: "~5.6.3", "@types/node": "^20.19.0" },
    }),
  );
  // A copy, as from a registry (not a link into this checkout), with the peer @pulumi/pulumi.
  await exec("npm", ["install", "--install-links", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    env,
  });
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("hosttune as a library in another Pulumi project", () => {
  it("the program is 15 lines of TypeScript", () => {
    expect(PROGRAM.trim().split("\n").length).toBeLessThanOrEqual(15);
  });

  it("up converges the VM, a preview expects no changes, destroy puts the VM back", async () => {
    await npx(["stack", "init", "dev"]);
    await npx(["config", "set", "port", String(vm.port)]);
    await npx(["config", "set", "hostKey", vm.hostKey]);
    await npx(["config", "set", "--secret", "privateKey"], readFileSync(join(LAB_DIR, "id_ed25519"), "utf8"));
    expect(readFileSync(join(dir, "Pulumi.dev.yaml"), "utf8")).not.toContain("PRIVATE KEY");

    const up = await npx(["up", "--yes"]);
    expect(up).not.toMatch(/using pulumi-language-nodejs from \$PATH/);
    expect(up).toMatch(/hosttune:index:HostTuning/);
    expect(state()).toBe("pfifo_fast\n# hosttune library e2e\n");
    await npx(["preview", "--expect-no-changes"]);
    await npx(["destroy", "--yes"]);
    expect(state()).toBe(before);
  });
});
