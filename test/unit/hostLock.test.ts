// The host lock's holder script in a real shell: a second run waits, a wait that runs out
// names the holder and changes nothing, and closing the holder's stdin (our channel going
// away) releases the lock, unless it was handed over to a commit-confirmed change first.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { holdScript } from "../../providers/core/hostLock";
import { JOURNAL_DIR } from "../../providers/core/journal";

/** A lock dir with a commit-confirmed change's token dir in `state`. */
function changeIn(state: string) {
  const dir = mkdtempSync(join(tmpdir(), "hosttune-lock-"));
  const token = join(dir, "token");
  mkdirSync(token);
  writeFileSync(join(token, "state"), `${state}\n`);
  return { dir, token };
}

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

/** A `run` command as runThroughHolder tells it: the line, then the script's bytes. */
function runCommand(script: string, seconds: number, token: string): Buffer {
  const body = Buffer.from(script);
  return Buffer.concat([Buffer.from(`run ${seconds} ${body.length} ${token}\n`), body]);
}

/** The lock is free: a new run takes it (waiting up to 10 s) and lets go. */
async function expectFree(dir: string, owner: string) {
  const h = hold(dir, owner, 10);
  await h.locked;
  h.child.stdin.end();
  expect(await h.exited).toBe(0);
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

  it("told to forget a journal, removes it and says so; any other file it leaves, saying no", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-lock-"));
    mkdirSync(JOURNAL_DIR, { recursive: true });
    const journal = join(JOURNAL_DIR, `test-${process.pid}-${Date.now()}.json`);
    const other = join(dir, "other.json");
    for (const f of [journal, other]) writeFileSync(f, "{}\n");
    const h = hold(dir, "run F", 5);
    await h.locked;
    const said = async (line: string, n: number) => {
      h.child.stdin.write(`${line}\n`);
      while (h.out().split("hosttune-forgot").length <= n) await new Promise((r) => setTimeout(r, 20));
    };
    await said(`forget ${journal}`, 1);
    await said(`forget ${other}`, 2);
    await said(`forget ${JOURNAL_DIR}/../../../../${other}`, 3);
    expect(h.out().match(/hosttune-forgot \d+/g)).toEqual([
      "hosttune-forgot 0",
      "hosttune-forgot 2",
      "hosttune-forgot 2",
    ]);
    expect(existsSync(journal)).toBe(false);
    expect(existsSync(other)).toBe(true);
    h.child.stdin.end();
    expect(await h.exited).toBe(0);
  }, 30_000);

  it("told to run, runs a script under its deadline without the lock's descriptor, and answers in turn", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-lock-"));
    const h = hold(dir, "run R", 5);
    await h.locked;
    let n = 0;
    // As runThroughHolder tells it: its output, a line with the token, its stderr, the answer.
    const run = async (script: string, seconds = 10) => {
      const token = `t${++n}`;
      const from = h.out().length;
      h.child.stdin.write(runCommand(script, seconds, token));
      const answer = new RegExp(`hosttune-ran ${token} (\\d+)\n`);
      while (!answer.test(h.out().slice(from))) await new Promise((r) => setTimeout(r, 20));
      const said = answer.exec(h.out().slice(from))!;
      const [out, err] = h
        .out()
        .slice(from, from + said.index)
        .split(`\nhosttune-stderr ${token}\n`);
      // The holder adds a newline before the answer.
      return { rc: Number(said[1]), out, err: err.replace(/\n$/, "") };
    };
    // Several lines, multi-byte text, stderr apart, its own exit code; it cannot read what the holder is told.
    const first = await run("printf 'é\\nline two\\n'; echo oops >&2; cat; exit 3");
    expect(first).toEqual({ rc: 3, out: "é\nline two\n", err: "oops\n" });
    // Past its deadline it is stopped, and the holder goes on.
    expect((await run("sleep 30", 1)).rc).toBe(124);
    // What it leaves running does not keep the lock: closing the holder's stdin frees it.
    expect(await run(`sleep 20 & echo started`)).toEqual({ rc: 0, out: "started\n", err: "" });
    h.child.stdin.end();
    expect(await h.exited).toBe(0);
    await expectFree(dir, "run S");
  }, 60_000);

  // Each next command is told as soon as the answer before it is seen: none of its bytes may go
  // to what the command before left behind (its watcher), or the holder waits for them forever.
  it("commands told back to back, each as the answer before it arrives, all run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-lock-"));
    const h = hold(dir, "run B2B", 5);
    await h.locked;
    // A busy machine: a killed process waits its turn to die.
    const hogs = [1, 2].map(() => spawn("sh", ["-c", "while :; do :; done"], { stdio: "ignore" }));
    const script = `echo ${"x".repeat(2000)} >/dev/null`;
    const total = 300;
    let n = 0;
    const ran = await new Promise<number>((resolve) => {
      const tell = () => h.child.stdin.write(runCommand(script, 10, `t${n}`));
      // Stuck: no answer for 20 s (a hang), however long all 300 take on a loaded machine.
      let stuck = setTimeout(() => resolve(n), 20_000);
      h.child.stdout.on("data", () => {
        if (!h.out().includes(`hosttune-ran t${n} 0\n`)) return;
        clearTimeout(stuck);
        if (++n === total) return resolve(n);
        stuck = setTimeout(() => resolve(n), 20_000);
        tell();
      });
      tell();
    });
    for (const hog of hogs) hog.kill("SIGKILL");
    expect(ran).toBe(total);
    h.child.stdin.end();
    expect(await h.exited).toBe(0);
  }, 300_000);

  // As a session's command is: the client gone, nothing it started goes on changing the host.
  it("a script still running when the holder's stdin closes (the connection dropped) is killed, and the lock freed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-lock-"));
    const h = hold(dir, "run K", 5);
    await h.locked;
    const mark = join(dir, "still-running");
    h.child.stdin.end(runCommand(`sleep 3; touch ${mark}`, 60, "k"));
    const t0 = Date.now();
    await h.exited;
    expect(Date.now() - t0).toBeLessThan(2500);
    await expectFree(dir, "run L");
    await new Promise((r) => setTimeout(r, 3500));
    expect(existsSync(mark)).toBe(false);
  }, 30_000);

  // The connection goes for the fresh confirm; the lock must not go with it.
  it("handed over to a commit-confirmed change, it is held through the window and the verify", async () => {
    const { dir, token } = changeIn("armed");
    const a = hold(dir, "run A", 5);
    await a.locked;
    a.child.stdin.write(`handover ${token}\n`);
    await new Promise<void>((r) => a.child.stdout.on("data", () => a.out().includes("hosttune-handed-over") && r()));
    a.child.kill("SIGKILL"); // as the dropped connection does
    await a.exited;
    const b = hold(dir, "run B", 1);
    expect(await b.exited).toBe(75);
    expect(b.out()).toContain(`held by run A, for its commit-confirmed change in ${token}`);
    // Confirmed, the lock stays for the run's verify, until it says it is done.
    writeFileSync(join(token, "state"), "confirmed\n");
    expect(await hold(dir, "run C", 2).exited).toBe(75);
    writeFileSync(join(token, "released"), "");
    await expectFree(dir, "run D");
  }, 30_000);

  // A change that deletes a VRF orphans the connection it was sent on: its sshd session, bound to
  // the VRF, never hears the client go, so the holder's stdin never closes (measured on a lab VM:
  // a destroy's holder alive minutes later, holding the lock, the next run waiting 600 s). Handed
  // over, the holder leaves: the lock is the change's alone, and free once it settles.
  it("handed over, it leaves at once, though its stdin stays open: the lock goes with the change", async () => {
    const { dir, token } = changeIn("armed");
    const a = hold(dir, "run A", 5);
    await a.locked;
    a.child.stdin.write(`handover ${token}\n`);
    expect(await a.exited).toBe(0);
    expect(await hold(dir, "run B", 1).exited).toBe(75);
    writeFileSync(join(token, "state"), "confirmed\n");
    writeFileSync(join(token, "released"), "");
    await expectFree(dir, "run C");
    a.child.stdin.end();
  }, 30_000);

  it("handed over to a change the host rolls back, it is free once the rollback is done", async () => {
    const { dir, token } = changeIn("rolling-back");
    const a = hold(dir, "run A", 5);
    await a.locked;
    a.child.stdin.end(`handover ${token}\n`);
    expect(await a.exited).toBe(0);
    expect(await hold(dir, "run B", 1).exited).toBe(75);
    writeFileSync(join(token, "state"), "rolled-back\n");
    await expectFree(dir, "run C");
  }, 30_000);
});
