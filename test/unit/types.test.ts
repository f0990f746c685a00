// Type-level checks (test/types/connection.ts), compiled by the project's tsc: a failed
// expectation there (a type that should be refused but is accepted, or the reverse) fails here.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";

const REPO = join(__dirname, "..", "..");

it("@pulumi/command's remote connection and the schemas' input types are what the resources take", () => {
  let out = "";
  try {
    execFileSync(join(REPO, "node_modules", ".bin", "tsc"), ["-p", join(REPO, "test", "types", "tsconfig.json")], {
      encoding: "utf8",
      stdio: "pipe",
    });
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? e);
  }
  expect(out).toBe("");
}, 120_000);
