// What a program and its dynamic providers print (console.log, console.error, a dying program's
// last words) is among the run's messages, as the engine shows its plugins' output: also when
// bin/pulumi serves the plugins, whose output the engine does not read (they send it to its log).
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
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

it("what a program and its dynamic provider print is among the run's messages, the plugins served or started by the engine", async () => {
  const { dir, env } = project(`const pulumi = require("@pulumi/pulumi");
console.log("on stdout: é");
console.error("on stderr");
const provider = {
  async check(olds, news) {
    console.log("the provider's check");
    console.error("the provider's stderr");
    return { inputs: news };
  },
  async create(inputs) {
    return { id: "x", outs: inputs };
  },
};
new pulumi.dynamic.Resource(provider, "thing", { a: 1 });
`);
  const dying = project('require("@pulumi/pulumi");\nconsole.error("last words");\nprocess.exit(3);\n');
  for (const p of [{ dir, env }, dying])
    expect((await pulumi(["stack", "init", "dev", "--cwd", p.dir], undefined, p.env)).code).toBe(0);
  for (const served of ["", "false"]) {
    const how = { ...env, HOSTTUNE_SHARED_LANGUAGE_HOST: served, HOSTTUNE_SHARED_PROVIDER: served };
    const r = await pulumi(["preview", "--cwd", dir], undefined, how);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Served, each plugin started (else the engine would have started its own).
    expect(r.stderr).not.toMatch(/did not start/);
    const diagnostics = r.stdout.slice(r.stdout.indexOf("Diagnostics:"));
    for (const line of ["on stdout: é", "on stderr", "the provider's check", "the provider's stderr"])
      expect(diagnostics, `served: ${served}`).toMatch(new RegExp(`^ {4}${line}$`, "m"));
    const d = await pulumi(["preview", "--cwd", dying.dir], undefined, { ...how, ...dying.env });
    expect(d.code).not.toBe(0);
    expect(d.stdout, `served: ${served}`).toMatch(/Program exited with non-zero exit code: 3/);
    expect(d.stdout.slice(d.stdout.indexOf("Diagnostics:")), `served: ${served}`).toMatch(/^ {4}last words$/m);
  }
}, 180_000);

// bin/pulumi's language host starts the program's runner ahead of each run of the command (node
// and the SDK loaded while the engine refreshes): the program runs there, with the run's config,
// secrets and settings; with nodeargs (given at node's start) and unserved, it starts cold.
it("the program of a served run is the runner started ahead, with the run's config; cold with nodeargs or unserved", async () => {
  const program = `const pulumi = require("@pulumi/pulumi");
const cfg = new pulumi.Config();
console.log(["runner", require("path").basename(require.main.filename), pulumi.runtime.isDryRun(),
  cfg.require("word"), process.env.PULUMI_CONFIG_SECRET_KEYS, process.cwd() === __dirname].join(" "));
`;
  const p = project(program);
  const nodeargs = project(program);
  const yaml = join(nodeargs.dir, "Pulumi.yaml");
  writeFileSync(
    yaml,
    readFileSync(yaml, "utf8").replace("typescript: false", "typescript: false\n    nodeargs: --no-warnings"),
  );
  const ran = (out: string) => [...out.matchAll(/^ {4}runner (.*)$/gm)].map((m) => m[1]);
  for (const q of [p, nodeargs]) {
    expect((await pulumi(["stack", "init", "dev", "--cwd", q.dir], undefined, q.env)).code).toBe(0);
    await pulumi(["config", "set", "word", "hello", "--cwd", q.dir], undefined, q.env);
    await pulumi(["config", "set", "--secret", "pass", "s3cret", "--cwd", q.dir], undefined, q.env);
  }
  const secrets = '["printer:pass"]';
  // up: a preview and the update, each in a runner started ahead.
  const up = await pulumi(["up", "--yes", "--cwd", p.dir], undefined, p.env);
  expect(up.code, up.stdout + up.stderr).toBe(0);
  expect(up.stderr).not.toMatch(/started ahead exited|did not start/);
  expect(ran(up.stdout)).toEqual([
    `warm-runner.js true hello ${secrets} true`,
    `warm-runner.js false hello ${secrets} true`,
  ]);
  const cold = await pulumi(["preview", "--cwd", p.dir], undefined, {
    ...p.env,
    HOSTTUNE_SHARED_LANGUAGE_HOST: "false",
  });
  expect(ran(cold.stdout)).toEqual([`index.js true hello ${secrets} true`]);
  const withArgs = await pulumi(["preview", "--cwd", nodeargs.dir], undefined, nodeargs.env);
  expect(withArgs.code, withArgs.stdout + withArgs.stderr).toBe(0);
  expect(ran(withArgs.stdout)).toEqual([`index.js true hello ${secrets} true`]);
}, 180_000);
