#!/usr/bin/env node
// The SDK's program runner (`@pulumi/pulumi/cmd/run`), started before the engine asks for it. The
// served language host starts it with itself, so node, the SDK, the runner's modules and the
// inspector hooks load while the refresh reads the hosts rather than after it, on the run's
// critical path. Run hands it the run as one JSON line on stdin ({ args, env, cwd }: the runner's
// arguments, what the run adds to the environment, the program's folder); it then is
// `node cmd/run ARGS` in every way the program can tell. Stdin closed with no line: it exits.
// Installed beside the plugins by scripts/toolchain.sh.
"use strict";
const { createRequire } = require("node:module");
const path = require("node:path");

const sdk = path.dirname(createRequire(path.join(process.cwd(), "noop.js")).resolve("@pulumi/pulumi/package.json"));
const runner = path.join(sdk, "cmd", "run");
const fromRunner = createRequire(path.join(runner, "index.js"));

// What the runner loads before the program, in its order (its instrumentation first: it patches
// gRPC before the SDK loads it), and the SDK the program loads. Not cmd/run itself, nor its run.js
// (which requires it): the runner runs as it loads.
for (const m of [
  "./instrumentation",
  "source-map-support/register",
  "minimist",
  "../../log",
  "../../runtime/settings",
  "../../runtime/manifest",
  "../../runtime/stack",
  "../../tsutils",
  "./tracing",
  "./error",
  "ini",
  "semver",
  "../..",
])
  fromRunner(m);

const hooks = fromRunner("../../runtime/closure/v8Hooks").isInitializedAsync();

let line = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text) => {
  line += text;
  const nl = line.indexOf("\n");
  if (nl < 0) return;
  // Read no more: the program's event loop must be able to empty.
  process.stdin.destroy();
  const { args, env, cwd } = JSON.parse(line.slice(0, nl));
  void hooks.then(() => {
    // The SDK reads the run's settings and config from the environment on first use, not as it loads.
    Object.assign(process.env, env);
    process.chdir(cwd);
    process.argv = [process.argv[0], runner, ...args];
    fromRunner(runner);
  });
});
// The language host gone, or done without a run for us.
process.stdin.on("end", () => line.includes("\n") || process.exit(0));
