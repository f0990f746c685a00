// Credentials are handed to the provider outside Pulumi's engine: the engine (and its -v=9
// logs, the state, stack export) sees only a keyed reference.
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { handOff, resolveCredential, withCredentials } from "../../providers/core/credentials";

describe("credential handoff", () => {
  let cache: string;
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), "hosttune-cred-"));
    process.env.HOSTTUNE_CACHE = cache;
  });

  it("passes a reference that holds nothing of the value, and resolves it where pulumi runs", () => {
    const ref = handOff("hunter2-very-secret");
    expect(ref).toMatch(/^hosttune-credential:[0-9a-f]{32}$/);
    expect(ref).not.toContain("hunter2");
    expect(resolveCredential("connection.password", ref)).toBe("hunter2-very-secret");
    const dir = join(cache, "credentials");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it("the same value gives the same reference (no diff churn); another machine's key gives another", () => {
    expect(handOff("a")).toBe(handOff("a"));
    const here = handOff("a");
    process.env.HOSTTUNE_CACHE = mkdtempSync(join(tmpdir(), "hosttune-cred-"));
    expect(handOff("a")).not.toBe(here);
  });

  it("a reference this machine cannot resolve is a clear error", () => {
    const ref = handOff("x");
    process.env.HOSTTUNE_CACHE = mkdtempSync(join(tmpdir(), "hosttune-cred-"));
    expect(() => resolveCredential("connection.sudoPassword", ref)).toThrow(
      /connection.sudoPassword was handed over on another machine/,
    );
  });

  it("withCredentials resolves every credential and reads privateKeyPath; plain values pass through", () => {
    const key = join(cache, "id");
    writeFileSync(key, "KEY MATERIAL");
    const c = withCredentials({
      host: "h",
      port: 22,
      user: "u",
      dialErrorLimit: 1,
      perDialTimeout: 1,
      password: handOff("pw"),
      sudoPassword: "plain",
      privateKeyPath: key,
    });
    expect(c).toMatchObject({ password: "pw", sudoPassword: "plain", privateKey: "KEY MATERIAL" });
  });

  it("withCredentials resolves the bastion's credentials too, and names its fields", () => {
    const hop = { port: 22, user: "u", dialErrorLimit: 1, perDialTimeout: 1 };
    const c = withCredentials({
      ...hop,
      host: "h",
      password: "p",
      proxy: { ...hop, host: "b", password: handOff("bpw") },
    });
    expect(c.proxy).toMatchObject({ host: "b", password: "bpw" });
    expect(() =>
      withCredentials({
        ...hop,
        host: "h",
        password: "p",
        proxy: { ...hop, host: "b", privateKeyPath: "/nonexistent" },
      }),
    ).toThrow(/^connection\.proxy\.privateKeyPath \/nonexistent cannot be read here/);
  });
});
