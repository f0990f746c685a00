// scripts/sdk-preload.js, as the plugins load it (node --require, in the project's folder): the
// SDK's costs that a hosttune run does not need are gone, and each comes back when asked for.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const REPO = join(__dirname, "..", "..");

/** What a node process with the preload sees of the SDK, run in the project's folder. */
function sdkSeen(env: Record<string, string> = {}): { typescript: boolean; debugSends: boolean; stackFrames: number } {
  const probe = `
    const pulumi = require("@pulumi/pulumi");
    const typescript = Object.keys(require.cache).some((f) => /node_modules\\/typescript\\//.test(f));
    const log = require("@pulumi/pulumi/log");
    const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
    const p = Promise.resolve();
    debuggablePromise(p, "probe");
    console.log(JSON.stringify({
      typescript,
      debugSends: /getEngine/.test(String(log.debug)),
      stackFrames: p._debugStackTrace.split("\\n").filter((l) => /^\\s+at /.test(l)).length,
    }));`;
  const out = execFileSync(process.execPath, ["--require", join(REPO, "scripts", "sdk-preload.js"), "-e", probe], {
    cwd: REPO,
    env: { ...process.env, HOSTTUNE_SDK_DEBUG: "", PULUMI_DEBUG_PROMISE_LEAKS: "", ...env },
  });
  return JSON.parse(out.toString());
}

it("the SDK loads without TypeScript, sends no debug messages and takes no stack per promise", () => {
  expect(sdkSeen()).toEqual({ typescript: false, debugSends: false, stackFrames: 0 });
});

it("debug messages when bin/pulumi asks (HOSTTUNE_SDK_DEBUG), stacks when PULUMI_DEBUG_PROMISE_LEAKS does", () => {
  const asked = sdkSeen({ HOSTTUNE_SDK_DEBUG: "true", PULUMI_DEBUG_PROMISE_LEAKS: "true" });
  expect(asked.debugSends).toBe(true);
  expect(asked.stackFrames).toBeGreaterThan(0);
});
