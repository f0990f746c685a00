// scripts/plugins/sdk-preload.js, as the plugins load it (node --require, in the project's folder): the
// SDK's costs that a hosttune run does not need are gone, and each comes back when asked for.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const REPO = join(__dirname, "..", "..");

/** What a node process with the preload sees of the SDK, run in the project's folder. */
function sdkSeen(env: Record<string, string> = {}): Record<string, unknown> {
  const probe = `
    const pulumi = require("@pulumi/pulumi");
    const loaded = (re) => Object.keys(require.cache).some((f) => re.test(f));
    const typescript = loaded(/node_modules\\/typescript\\//);
    const closures = loaded(/runtime\\/closure\\/createClosure\\.js$|node_modules\\/fdir\\//);
    const automation = loaded(/@pulumi\\/pulumi\\/automation\\/localWorkspace\\.js$/);
    // The program runner's tracing, as a run without --tracing uses it: a span, ended.
    require("@pulumi/pulumi/cmd/run/tracing").newSpan("probe").end();
    // (Past each package's index.js, which stands in the cache for the package until first used.)
    const tracingSdk = loaded(/@opentelemetry\\/(resources|sdk-trace-base|sdk-trace-node|exporter-zipkin)\\/build\\/src\\/(?!index\\.js)/);
    const log = require("@pulumi/pulumi/log");
    const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
    const p = Promise.resolve();
    debuggablePromise(p, "probe");
    console.log(JSON.stringify({
      typescript,
      closures,
      automation,
      tracingSdk,
      debugSends: /getEngine/.test(String(log.debug)),
      stackFrames: p._debugStackTrace.split("\\n").filter((l) => /^\\s+at /.test(l)).length,
    }));`;
  const out = execFileSync(
    process.execPath,
    ["--require", join(REPO, "scripts", "plugins", "sdk-preload.js"), "-e", probe],
    {
      cwd: REPO,
      env: { ...process.env, HOSTTUNE_SDK_DEBUG: "", PULUMI_DEBUG_PROMISE_LEAKS: "", ...env },
    },
  );
  return JSON.parse(out.toString());
}

it(
  "the SDK loads without TypeScript, closure serialization, the Automation API or OpenTelemetry's tracing SDK, " +
    "sends no debug messages and takes no stack per promise",
  () => {
    expect(sdkSeen()).toEqual({
      typescript: false,
      closures: false,
      automation: false,
      tracingSdk: false,
      debugSends: false,
      stackFrames: 0,
    });
  },
);

it("what loads on first use works when used: a closure serialized, the Automation API, tracing's SDK", async () => {
  const probe = `
    const pulumi = require("@pulumi/pulumi");
    const { Resource } = require("@opentelemetry/resources");
    const resource = Resource.default().attributes["service.name"] !== undefined;
    const n = 41;
    pulumi.runtime.serializeFunction(() => n + 1).then((f) => {
      const m = { exports: {} };
      new Function("exports", "require", f.text)(m.exports, require);
      const add = m.exports[f.exportName]();
      console.log(JSON.stringify({ serialized: add, workspace: typeof pulumi.automation.LocalWorkspace.create, resource }));
    });`;
  const out = execFileSync(
    process.execPath,
    ["--require", join(REPO, "scripts", "plugins", "sdk-preload.js"), "-e", probe],
    {
      cwd: REPO,
    },
  );
  expect(JSON.parse(out.toString())).toEqual({ serialized: 42, workspace: "function", resource: true });
});

it("debug messages when bin/pulumi asks (HOSTTUNE_SDK_DEBUG), stacks when PULUMI_DEBUG_PROMISE_LEAKS does", () => {
  const asked = sdkSeen({ HOSTTUNE_SDK_DEBUG: "true", PULUMI_DEBUG_PROMISE_LEAKS: "true" });
  expect(asked.debugSends).toBe(true);
  expect(asked.stackFrames).toBeGreaterThan(0);
});
