// Locks that a run of this machine left on a stack of a local file backend when it died (killed,
// out of memory, its terminal gone): the CLI's pid, written in the lock, is gone. Pulumi would
// refuse every later run of the stack until `pulumi cancel`; such a lock guards nothing, as its
// run can no longer write the state. A lock of another machine, or of a process still alive (or
// of a pid reused since), is never touched. Used by bin/pulumi before each command, and by the bench.
"use strict";
const fs = require("node:fs");
const { hostname } = require("node:os");
const path = require("node:path");

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

/**
 * Removes the dead locks of `stack` ("name" of `project`, or "org/project/name") in the file
 * backend at `dir`; returns what each lock said (pid, username, hostname, timestamp).
 */
function clearStaleLocks(dir, project, stack) {
  const parts = stack.split("/");
  const lockDir = path.join(
    dir,
    ".pulumi",
    "locks",
    ...(parts.length === 3 ? parts : ["organization", project, parts[parts.length - 1]]),
  );
  let files;
  try {
    files = fs.readdirSync(lockDir).filter((f) => f.endsWith(".json"));
  } catch {
    return [];
  }
  const cleared = [];
  for (const f of files) {
    let lock;
    try {
      lock = JSON.parse(fs.readFileSync(path.join(lockDir, f), "utf8"));
    } catch {
      continue;
    }
    if (lock.hostname !== hostname() || !Number.isInteger(lock.pid) || alive(lock.pid)) continue;
    // With the attributes file the backend keeps beside it.
    for (const g of [f, `${f}.attrs`]) fs.rmSync(path.join(lockDir, g), { force: true });
    cleared.push(lock);
  }
  return cleared;
}

module.exports = { clearStaleLocks };
