// The provider module hosttune puts in each resource's state (`__provider`), loaded the way the
// SDK's dynamic provider loads it: its own `require-from-string` of the text, then `handler()`.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { providerSource } from "../../providers/core/shim";

const sdkProvider = require.resolve("@pulumi/pulumi/cmd/dynamic-provider");
const requireFromString = createRequire(sdkProvider)("require-from-string") as (code: string) => {
  handler(): Record<string, unknown>;
};

describe("the provider module in state", () => {
  it("is a few hundred bytes, the same for every resource of a kind", () => {
    expect(providerSource("UdevRule")).toBe(providerSource("UdevRule"));
    expect(providerSource("UdevRule")).not.toBe(providerSource("DefaultQdisc"));
    expect(providerSource("UdevRule").length).toBeLessThan(600);
  });

  it("loads hosttune's provider for its kind from the program's folder (the plugin's cwd)", () => {
    const p = requireFromString(providerSource("DefaultQdisc")).handler();
    for (const m of ["check", "diff", "create", "read", "update", "delete"]) expect(typeof p[m]).toBe("function");
    expect(requireFromString(providerSource("DefaultQdisc")).handler()).toBe(p);
    expect(() => requireFromString(providerSource("NoSuchKind")).handler()).toThrow(/no resource kind 'NoSuchKind'/);
  });

  it("says where it looked when the program's folder has no hosttune", () => {
    const loader = JSON.stringify(createRequire(sdkProvider).resolve("require-from-string"));
    const script = `try { require(${loader})(process.argv[1]).handler() } catch (e) { console.log(e.message) }`;
    const out = execFileSync(process.execPath, ["-e", script, providerSource("DefaultQdisc")], {
      cwd: tmpdir(),
      encoding: "utf8",
    });
    expect(out).toMatch(
      new RegExp(`^cannot load hosttune's provider from ${tmpdir()}: Cannot find module 'hosttune/provider'`),
    );
  });
});
