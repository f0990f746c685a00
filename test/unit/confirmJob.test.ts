// The commit-confirmed job, its rollback and the boot unit's script, run by a real shell in a
// temporary token directory: rollbacks run every step and say which failed, a confirm is
// atomic against the rollback, and a boot rolls back what an earlier boot left armed, once.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bootScript, confirmCommand, confirmFiles, parseOutcome } from "../../providers/core/confirm";
import { sh } from "../../providers/core/quote";
import { failedStep, type Step } from "../../providers/core/steps";

const thisBoot = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8");
const read = (dir: string, f: string) => readFileSync(join(dir, f), "utf8");

/** A token directory as the launch command leaves it (the host lock moved into `root`). */
function arm(root: string, steps: Step[], rollback: Step[], timeout: number, boot = thisBoot()): string {
  const dir = mkdtempSync(join(root, "token-"));
  for (const [name, content] of Object.entries(confirmFiles(dir, steps, rollback, timeout)))
    writeFileSync(join(dir, name), content.replaceAll("/run/hosttune", join(root, "run")));
  writeFileSync(join(dir, "boot"), boot);
  return dir;
}

const job = (dir: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync("sh", [join(dir, "job.sh")], { encoding: "utf8", env, timeout: 30_000 });
const confirm = (dir: string, really = true) =>
  parseOutcome(execFileSync("sh", ["-c", confirmCommand(dir, really).text], { encoding: "utf8" }));
const step = (describe: string, cmd: ReturnType<typeof sh>): Step => ({ describe, run: cmd });
const root = () => mkdtempSync(join(tmpdir(), "hosttune-confirm-"));

describe("commit-confirmed job", () => {
  it("rolls back by itself when nobody confirms, and a late confirm is refused", () => {
    const r = root();
    const state = join(r, "state");
    const dir = arm(r, [step("apply", sh`echo applied > ${state}`)], [step("undo", sh`echo rolled > ${state}`)], 2);
    job(dir);
    expect(read(r, "state")).toBe("rolled\n");
    expect(read(dir, "state")).toBe("rolled-back\n");
    expect(confirm(dir)).toMatchObject({ state: "rolled-back", reason: "deadline" });
  });

  it("rolls back on time even when the host's wall clock steps back", () => {
    const r = root();
    // A `date` whose clock steps back an hour after its first reading.
    const bin = join(r, "bin");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "date"),
      `#!/bin/sh\n[ -e ${r}/stepped ] && echo $(( $(/bin/date +%s) - 3600 )) && exit\ntouch ${r}/stepped; exec /bin/date "$@"\n`,
      { mode: 0o755 },
    );
    const dir = arm(r, [step("apply", sh`true`)], [step("undo", sh`true`)], 2);
    job(dir, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(read(dir, "state")).toBe("rolled-back\n");
  });

  it("keeps the change when a confirm arrives in time", async () => {
    const r = root();
    const state = join(r, "state");
    const dir = arm(r, [step("apply", sh`echo applied > ${state}`)], [step("undo", sh`echo rolled > ${state}`)], 20);
    const running = spawn("sh", [join(dir, "job.sh")]);
    const exited = new Promise((res) => running.on("exit", res));
    let seen = "";
    for (let i = 0; i < 100 && seen !== "confirmed"; i++) {
      await new Promise((res) => setTimeout(res, 100));
      seen = spawnSync("sh", ["-c", confirmCommand(dir, true).text], { encoding: "utf8" }).stdout.includes(
        "\x1estate confirmed",
      )
        ? "confirmed"
        : "";
    }
    expect(seen).toBe("confirmed");
    await exited;
    expect(read(r, "state")).toBe("applied\n");
    expect(read(dir, "state")).toBe("confirmed\n");
    // Confirming again is harmless and says the same.
    expect(confirm(dir).state).toBe("confirmed");
  });

  it("a report without confirm leaves an armed change armed", () => {
    const r = root();
    const dir = arm(r, [], [], 60);
    writeFileSync(join(dir, "state"), "armed\n");
    expect(confirm(dir, false).state).toBe("armed");
    expect(read(dir, "state")).toBe("armed\n");
    expect(confirm(dir).state).toBe("confirmed");
  });

  it("rolls back at once when the change itself fails, and reports the failed step", () => {
    const r = root();
    const state = join(r, "state");
    writeFileSync(state, "before\n");
    const dir = arm(
      r,
      [step("one", sh`true`), step("two", sh`echo boom >&2; exit 3`)],
      [step("undo", sh`echo rolled > ${state}`)],
      30,
    );
    job(dir);
    expect(read(r, "state")).toBe("rolled\n");
    const o = confirm(dir);
    expect(o).toMatchObject({ state: "rolled-back", reason: "apply-failed" });
    expect(failedStep(o.applyLog!)).toBe(1);
    expect(o.applyLog).toContain("boom");
  });

  it("runs every rollback step when a middle one fails, and records which failed", () => {
    const r = root();
    const dir = arm(
      r,
      [step("apply", sh`true`)],
      [
        step("first", sh`touch ${join(r, "1")}`),
        step("second", sh`echo cannot restore >&2; false; touch ${join(r, "2")}`),
        step("third: give the interface back", sh`touch ${join(r, "3")}`),
      ],
      1,
    );
    job(dir);
    expect(existsSync(join(r, "1"))).toBe(true);
    expect(existsSync(join(r, "2"))).toBe(false);
    expect(existsSync(join(r, "3"))).toBe(true);
    expect(read(dir, "steps")).toBe("0 0\n1 1\n2 0\n");
    expect(read(dir, "state")).toBe("rollback-failed\n");
    expect(confirm(dir)).toMatchObject({
      state: "rollback-failed",
      reason: "deadline",
      failedStep: { index: 1, rc: 1, output: "cannot restore" },
    });
  });
});

describe("at boot", () => {
  it("runs an armed, unconfirmed rollback of an earlier boot once; never a confirmed one or this boot's", () => {
    const r = root();
    const count = join(r, "rollbacks");
    const undo = (name: string) => [step("undo", sh`echo ${name} >> ${count}`)];
    const stale = arm(r, [], undo("stale"), 60, "an-earlier-boot");
    writeFileSync(join(stale, "state"), "armed\n");
    // A rollback a reboot cut short runs again.
    const cut = arm(r, [], undo("cut"), 60, "an-earlier-boot");
    writeFileSync(join(cut, "state"), "rolling-back\n");
    const confirmed = arm(r, [], undo("confirmed"), 60, "an-earlier-boot");
    writeFileSync(join(confirmed, "state"), "confirmed\n");
    // Armed in this boot: its job is alive and decides.
    const current = arm(r, [], undo("current"), 60);
    writeFileSync(join(current, "state"), "armed\n");
    const boot = bootScript(r).text;
    execFileSync("sh", ["-c", boot]);
    execFileSync("sh", ["-c", boot]);
    expect(read(r, "rollbacks").split("\n").filter(Boolean).sort()).toEqual(["cut", "stale"]);
    expect(confirm(stale)).toMatchObject({ state: "rolled-back", reason: "boot" });
    expect(read(cut, "state")).toBe("rolled-back\n");
    expect(read(confirmed, "state")).toBe("confirmed\n");
    expect(read(current, "state")).toBe("armed\n");
  });

  it("skips a token whose lock is held (its rollback is running)", () => {
    const r = root();
    const dir = arm(r, [], [step("undo", sh`touch ${join(r, "undone")}`)], 60, "an-earlier-boot");
    writeFileSync(join(dir, "state"), "armed\n");
    appendFileSync(join(dir, "lock"), "");
    execFileSync("sh", ["-c", `flock ${join(dir, "lock")} sh -c ${JSON.stringify(bootScript(r).text)}`]);
    expect(existsSync(join(r, "undone"))).toBe(false);
    expect(read(dir, "state")).toBe("armed\n");
  });
});
