// What a program prints (console.log, console.error, a dying program's last words) is among the
// run's messages, as the engine shows a language host's output: also when bin/pulumi serves the
// language host, whose output the engine does not read (the host sends it to the engine's log).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { pulumi, REPO } from "../e2e/lab";

function project(program: string): { dir: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), "hosttune-output-"));
  writeFileSync(
    join(dir, "Pulumi.yaml"),
    "name: printer\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n",
  );
  writeFileSync(join(dir, "package.json"), '{ "name": "printer", "private": true }\n');
  writeFileSync(join(dir, "index.js"), program);
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"));
  mkdirSync(join(dir, "state"));
  return { dir, env: { PULUMI_BACKEND_URL: `file://${join(dir, "state")}`, PULUMI_CONFIG_PASSPHRASE: "output" } };
}

it("a program's output is among the run's messages, with the language host served or started by the engine", async () => {
  const { dir, env } = project(
    'require("@pulumi/pulumi");\nconsole.log("on stdout: é");\nconsole.error("on stderr");\nexports.x = 1;\n',
  );
  const dying = project('require("@pulumi/pulumi");\nconsole.error("last words");\nprocess.exit(3);\n');
  for (const p of [{ dir, env }, dying])
    expect((await pulumi(["stack", "init", "dev", "--cwd", p.dir], undefined, p.env)).code).toBe(0);
  for (const served of ["", "false"]) {
    const how = { ...env, HOSTTUNE_SHARED_LANGUAGE_HOST: served };
    const r = await pulumi(["preview", "--cwd", dir], undefined, how);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const diagnostics = r.stdout.slice(r.stdout.indexOf("Diagnostics:"));
    expect(diagnostics, `served: ${served}`).toMatch(/^ {4}on stdout: é$/m);
    expect(diagnostics, `served: ${served}`).toMatch(/^ {4}on stderr$/m);
    const d = await pulumi(["preview", "--cwd", dying.dir], undefined, {
      ...dying.env,
      HOSTTUNE_SHARED_LANGUAGE_HOST: served,
    });
    expect(d.code).not.toBe(0);
    expect(d.stdout, `served: ${served}`).toMatch(/Program exited with non-zero exit code: 3/);
    expect(d.stdout.slice(d.stdout.indexOf("Diagnostics:")), `served: ${served}`).toMatch(/^ {4}last words$/m);
  }
}, 180_000);
