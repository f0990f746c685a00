// The host lock's holder script in a real shell: a second run waits, a wait that runs out
// names the holder and changes nothing, and closing the holder's stdin (our channel going
// away) releases the lock.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { holdScript } from "../../providers/core/hostLock";

function hold(dir: string, owner: string, wait: number) {
  const child = spawn("sh", ["-c", holdScript(owner, wait, dir).text], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const locked = new Promise<void>((resolve) => {
    const poll = setInterval(() => out.includes("hosttune-locked") && (clearInterval(poll), resolve()), 20);
  });
  return { child, exited, locked, out: () => out };
}

describe("host lock (real shell)", () => {
  it("one holder at a time; a wait that runs out names the holder; closing stdin releases", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-lock-"));
    const a = hold(dir, "run A", 5);
    await a.locked;
    const b = hold(dir, "run B", 1);
    expect(await b.exited).toBe(75);
    expect(b.out()).toContain("held by run A");
    const c = hold(dir, "run C", 10);
    a.child.stdin.end();
    expect(await a.exited).toBe(0);
    await c.locked;
    c.child.stdin.end();
    expect(await c.exited).toBe(0);
  }, 30_000);
});
