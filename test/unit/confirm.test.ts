// The client side of commit-confirm, against a scripted host: the deadline runs on a monotonic
// clock, a confirm the host accepted is a success however late the client learns it, and the
// error says exactly what the host did.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyConfirmed } from "../../providers/core/confirm";
import type { Connection } from "../../providers/core/connection";
import type { Raw } from "../../providers/core/quote";
import type { ExecResult } from "../../providers/core/transport";

/** Answers each confirm attempt (the n-th, from 0); a throw is an unreachable host. */
let answer: (n: number) => ExecResult = () => {
  throw new Error("unreachable");
};
let attempts = 0;
/** What happened, in order: "handover" (of the host lock), "drop", "report" or "confirm". */
let log: string[] = [];
/** The dial and command budgets of each confirm attempt. */
let budgets: { perDialTimeout: number; timeoutMs?: number }[] = [];

vi.mock("../../providers/core/hostLock", () => ({ handOverHostLock: async () => log.push("handover") }));
vi.mock("../../providers/core/transport", async (original) => ({
  ...(await original<typeof import("../../providers/core/transport")>()),
  exclusively: (_c: unknown, fn: () => Promise<unknown>) => fn(),
  dropConnection: () => log.push("drop"),
  run: async (c: Connection, script: Raw, opts: { timeoutMs?: number }) => {
    if (script.text.includes("systemd-run")) return { code: 0, stdout: "", stderr: "" };
    budgets.push({ perDialTimeout: c.perDialTimeout, timeoutMs: opts.timeoutMs });
    log.push(script.text.includes("if true &&") ? "confirm" : "report");
    return answer(attempts++);
  },
}));

const c = { host: "h", port: 22, user: "root", privateKey: "k", dialErrorLimit: 3, perDialTimeout: 25 } as Connection;
const hostSays = (text: string): ExecResult => ({ code: 0, stdout: text, stderr: "" });
const rollback = ["one", "two", "three"].map((describe) => ({ describe, run: { text: "true" } as Raw }));

/** Runs applyConfirmed with a 30 s window on fake timers; its result or error after `ms`. */
async function outcome(ms = 400_000): Promise<ExecResult | Error | undefined> {
  let out: ExecResult | Error | undefined;
  applyConfirmed(c, [], rollback, 30, "X", "HINT").then(
    (r) => (out = r),
    (e: Error) => (out = e),
  );
  await vi.advanceTimersByTimeAsync(ms);
  return out;
}

beforeEach(() => {
  attempts = 0;
  log = [];
  budgets = [];
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
});
afterEach(() => vi.useRealTimers());

describe("commit-confirm client", () => {
  it("gives up in bounded time even when the wall clock steps back", async () => {
    answer = (n) => {
      // The first confirm attempt sees the wall clock stepped back by an hour.
      if (n === 0) vi.setSystemTime(Date.now() - 3_600_000);
      throw new Error("unreachable");
    };
    const e = await outcome();
    expect((e as Error).message).toMatch(/unknown whether the host kept or rolled back the change.*unreachable/);
    expect(attempts).toBeLessThan(60);
  });

  it("a confirm the host accepted is a success, however late the client learns it", async () => {
    // Unreachable all through the window, then the host reports the confirm it accepted.
    answer = (n) => {
      if (n < 12) throw new Error("timed out");
      return hostSays("\x1estate confirmed\n\x1ereason \n");
    };
    expect(await outcome()).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("says the host rolled the change back when nobody confirmed it", async () => {
    answer = (n) => {
      if (n < 12) throw new Error("timed out");
      return hostSays("\x1estate rolled-back\n\x1ereason deadline\n");
    };
    expect(((await outcome()) as Error).message).toBe(
      "root@h:22: X: no fresh SSH connection could confirm the change within 30s, so the host rolled it back by itself. HINT",
    );
  });

  it("names the rollback step that failed and its message", async () => {
    answer = () => hostSays("\x1estate rollback-failed\n\x1ereason deadline\n\x1efailed-step 1 1\ncannot restore\n");
    expect(((await outcome()) as Error).message).toMatch(
      new RegExp(
        /so the host tried to roll it back by itself, but the rollback failed at step 2\/3 \(two\): cannot restore; /
          .source + /it ran every other step \(logs in \/var\/lib\/hosttune\/confirm\/\w+ on the host\)\. HINT$/.source,
      ),
    );
  });

  it("says when a reboot inside the window rolled the change back at boot", async () => {
    answer = () => hostSays("\x1estate rolled-back\n\x1ereason boot\n");
    expect(((await outcome()) as Error).message).toMatch(
      /X: the host rebooted before the change was confirmed, and at boot it rolled it back$/,
    );
  });

  // A connection made before the change took effect (to an sshd that outlives its restart)
  // proves nothing.
  it("confirms only over a connection dialed after the host reported the change armed", async () => {
    answer = (n) => (n < 1 ? hostSays("\x1estate armed\n") : hostSays("\x1estate confirmed\n"));
    expect(await outcome()).toMatchObject({ code: 0 });
    expect(log).toEqual(["handover", "drop", "report", "drop", "confirm"]);
  });

  it("gives each attempt on a slow host the connection's dial timeout and a generous command budget", async () => {
    answer = (n) => {
      if (n < 40) throw new Error("timed out");
      return hostSays("\x1estate confirmed\n");
    };
    expect(await outcome()).toMatchObject({ code: 0 });
    expect(budgets[0]).toEqual({ perDialTimeout: 25, timeoutMs: 60_000 });
    // Near the end, never past it, and never too short to run the command.
    expect(budgets.every((b) => b.perDialTimeout >= 5 && b.perDialTimeout <= 25 && b.timeoutMs! >= 15_000)).toBe(true);
  });

  // The host's window starts when its apply ends: on a slow host, well after the launch.
  it("counts its budget from the first armed answer, so a slow apply does not cut the window short", async () => {
    const t0 = performance.now();
    let armed = false;
    answer = () => {
      const t = (performance.now() - t0) / 1000;
      if (t < 140) return { code: 75, stdout: "", stderr: "" };
      if (!armed) {
        armed = true;
        return hostSays("\x1estate armed\n");
      }
      if (t < 200) throw new Error("timed out");
      return hostSays("\x1estate rolled-back\n\x1ereason deadline\n");
    };
    expect(((await outcome()) as Error).message).toMatch(/so the host rolled it back by itself/);
  });

  it("waits while the host is busy applying or rolling back", async () => {
    answer = (n) => (n < 5 ? { code: 75, stdout: "", stderr: "" } : hostSays("\x1estate confirmed\n"));
    expect(await outcome()).toMatchObject({ code: 0 });
    expect(attempts).toBe(6);
  });
});
