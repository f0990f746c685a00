// scripts/stale-locks.js (bin/pulumi, before each command): a lock that a run of this machine
// left on the stack when it died is removed; any other lock stays.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";

const { clearStaleLocks } = require("../../scripts/stale-locks.js") as {
  clearStaleLocks: (dir: string, project: string, stack: string) => { pid: number }[];
};

/** A pid that was a process of this machine and is gone. */
function deadPid(): number {
  return Number(spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout);
}

it("removes a dead local run's lock (and its attributes) on the stack, and no other", () => {
  const dir = mkdtempSync(join(tmpdir(), "hosttune-locks-"));
  const locks = join(dir, ".pulumi", "locks", "organization", "hosttune", "dev");
  const other = join(dir, ".pulumi", "locks", "organization", "hosttune", "prod");
  mkdirSync(locks, { recursive: true });
  mkdirSync(other, { recursive: true });
  const dead = deadPid();
  const lock = (d: string, name: string, pid: number, host = hostname()) => {
    writeFileSync(join(d, `${name}.json`), JSON.stringify({ pid, username: "root", hostname: host, timestamp: "t" }));
    writeFileSync(join(d, `${name}.json.attrs`), "{}");
  };
  lock(locks, "dead", dead);
  lock(locks, "live", process.pid);
  lock(locks, "elsewhere", dead, `not-${hostname()}`);
  lock(other, "dead", dead);
  writeFileSync(join(locks, "garbled.json"), "{");

  expect(clearStaleLocks(dir, "hosttune", "dev").map((l) => l.pid)).toEqual([dead]);
  expect(readdirSync(locks).sort()).toEqual([
    "elsewhere.json",
    "elsewhere.json.attrs",
    "garbled.json",
    "live.json",
    "live.json.attrs",
  ]);
  // Another stack's lock is that stack's business; a qualified name finds the same folder.
  expect(readdirSync(other)).toHaveLength(2);
  expect(clearStaleLocks(dir, "ignored", "organization/hosttune/prod")).toHaveLength(1);
  expect(existsSync(join(other, "dead.json"))).toBe(false);
  expect(clearStaleLocks(join(dir, "none"), "hosttune", "dev")).toEqual([]);
});
