import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sh } from "../../providers/core/quote";
import { applyScript, atomicWrite, failedStep, hostMessage } from "../../providers/core/steps";

const tmp = () => mkdtempSync(join(tmpdir(), "hosttune-steps-"));

describe("atomicWrite", () => {
  it("writes exact content (any bytes) with the given mode to a new file", () => {
    const dir = tmp();
    const path = join(dir, "sub dir", "a'b.conf");
    const content = "line 1\n$(not run)\n'quoted'\n\u00fcnic\u00f8de\n";
    execFileSync("sh", ["-c", atomicWrite({ path, content, mode: "0600" }).text]);
    expect(readFileSync(path, "utf8")).toBe(content);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("writes content the shell cannot hold as a word (a NUL byte) and content without a last newline", () => {
    const dir = tmp();
    for (const content of ["a\0b\n", "100% \\n no newline"]) {
      const path = join(dir, "f.conf");
      execFileSync("sh", ["-c", atomicWrite({ path, content }).text]);
      expect(readFileSync(path, "utf8")).toBe(content);
      expect(statSync(path).mode & 0o777).toBe(0o644);
    }
  });

  it("keeps the mode and owner of a file it replaces and leaves no temp file behind", () => {
    const dir = tmp();
    const path = join(dir, "x.conf");
    writeFileSync(path, "old");
    chmodSync(path, 0o640);
    chownSync(path, 65534, 65534);
    execFileSync("sh", ["-c", atomicWrite({ path, content: "new" }).text]);
    expect(readFileSync(path, "utf8")).toBe("new");
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect([statSync(path).uid, statSync(path).gid]).toEqual([65534, 65534]);
    expect(execFileSync("ls", ["-A", dir], { encoding: "utf8" }).trim()).toBe("x.conf");
  });

  // Debian: /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf; a rename over it would cut the link.
  it("refuses to replace a symlink, naming it and its target, and leaves both as they were", () => {
    const dir = tmp();
    mkdirSync(join(dir, "sysctl.d"));
    writeFileSync(join(dir, "sysctl.conf"), "old\n");
    const link = join(dir, "sysctl.d", "99-sysctl.conf");
    symlinkSync("../sysctl.conf", link);
    const r = spawnSync("sh", ["-c", atomicWrite({ path: link, content: "new\n" }).text], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${link} is a symlink to ../sysctl.conf`);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe("../sysctl.conf");
    expect(readFileSync(join(dir, "sysctl.conf"), "utf8")).toBe("old\n");
    expect(execFileSync("ls", ["-A", join(dir, "sysctl.d")], { encoding: "utf8" }).trim()).toBe("99-sysctl.conf");
  });

  it("replaces a symlink with the file when asked to (resolv.conf)", () => {
    const dir = tmp();
    writeFileSync(join(dir, "stub"), "stub\n");
    const link = join(dir, "resolv.conf");
    symlinkSync("stub", link);
    execFileSync("sh", ["-c", atomicWrite({ path: link, content: "ours\n", replaceLink: true }).text]);
    expect(lstatSync(link).isFile()).toBe(true);
    expect(readFileSync(link, "utf8")).toBe("ours\n");
    expect(readFileSync(join(dir, "stub"), "utf8")).toBe("stub\n");
  });
});

describe("removeFile", () => {
  it("removes an emptied systemd drop-in directory, never a rules.d or sysctl.d", () => {
    const dir = tmp();
    execFileSync("mkdir", ["-p", join(dir, "ssh.service.d"), join(dir, "rules.d")]);
    writeFileSync(join(dir, "ssh.service.d", "x.conf"), "x");
    writeFileSync(join(dir, "rules.d", "x.rules"), "x");
    const script = applyScript([
      { describe: "a", removeFile: join(dir, "ssh.service.d", "x.conf") },
      { describe: "b", removeFile: join(dir, "rules.d", "x.rules") },
    ]).text.replaceAll("/run/hosttune", join(dir, "run"));
    execFileSync("sh", ["-c", script]);
    expect(execFileSync("ls", ["-A", dir], { encoding: "utf8" }).split("\n").filter(Boolean)).toEqual([
      "rules.d",
      "run",
    ]);
  });

  // A rollback removes every file of ours a host may have: most are absent, their folders too.
  it("succeeds for a drop-in whose directory does not exist, and one kept by another file", () => {
    const dir = tmp();
    execFileSync("mkdir", ["-p", join(dir, "b.network.d")]);
    writeFileSync(join(dir, "b.network.d", "theirs.conf"), "x");
    const script = applyScript([
      { describe: "a", removeFile: join(dir, "a.network.d", "x.conf") },
      { describe: "b", removeFile: join(dir, "b.network.d", "x.conf") },
    ]).text.replaceAll("/run/hosttune", join(dir, "run"));
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(execFileSync("ls", ["-A", join(dir, "b.network.d")], { encoding: "utf8" }).trim()).toBe("theirs.conf");
  });
});

describe("applyScript", () => {
  it("stops at the first failing step and reports which", () => {
    const dir = tmp();
    const script = applyScript([
      { describe: "one", run: sh`touch ${join(dir, "1")}` },
      { describe: "two", run: sh`echo boom >&2; false` },
      { describe: "three", run: sh`touch ${join(dir, "3")}` },
    ]).text.replaceAll("/run/hosttune", join(dir, "run"));
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(failedStep(r.stderr)).toBe(1);
    expect(hostMessage(r.stderr)).toBe("boom");
    expect(() => statSync(join(dir, "1"))).not.toThrow();
    expect(() => statSync(join(dir, "3"))).toThrow();
  });

  // A subshell on the left of || runs with set -e ignored: the step went on past its failure,
  // and its last command's status was the step's (an ifup that failed, then one that worked).
  it("stops a step at its first failing command, and fails the step", () => {
    const dir = tmp();
    const script = applyScript([
      { describe: "half", run: sh`echo first >&2; false; touch ${join(dir, "after")}` },
    ]).text.replaceAll("/run/hosttune", join(dir, "run"));
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(failedStep(r.stderr)).toBe(0);
    expect(() => statSync(join(dir, "after"))).toThrow();
  });

  it("waits for the host lock held by another run", () => {
    const dir = tmp();
    const lockDir = join(dir, "run");
    const script = applyScript([{ describe: "mark", run: sh`date +%s%N > ${join(dir, "done")}` }]).text.replaceAll(
      "/run/hosttune",
      lockDir,
    );
    execFileSync("mkdir", ["-p", lockDir]);
    const started = Date.now();
    // Hold the lock for 1.5 s in another process, then run the steps.
    const holder = spawnSync("sh", ["-c", `flock ${join(lockDir, "lock")} sleep 1.5 & sleep 0.2; ${script}; wait`], {
      encoding: "utf8",
    });
    expect(holder.status).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });
});
