// The commit-confirm deadline runs on a monotonic clock: a wall-clock step (NTP, a VM resumed)
// must not stretch the confirm loop past the host's own rollback.
import { afterEach, expect, it, vi } from "vitest";
import { applyConfirmed } from "../../providers/core/confirm";
import type { Connection } from "../../providers/core/connection";
import type { Raw } from "../../providers/core/quote";

const calls: string[] = [];

vi.mock("../../providers/core/transport", async (original) => ({
  ...(await original<typeof import("../../providers/core/transport")>()),
  exclusively: (_c: unknown, fn: () => Promise<unknown>) => fn(),
  dropConnection: () => {},
  run: async (_c: unknown, script: Raw) => {
    if (script.text.includes("systemd-run")) return { code: 0, stdout: "", stderr: "" };
    if (script.text.includes("/confirmed")) {
      // The first confirm attempt sees the wall clock stepped back by an hour.
      if (!calls.includes("confirm")) vi.setSystemTime(Date.now() - 3_600_000);
      calls.push("confirm");
      throw new Error("unreachable");
    }
    calls.push("result");
    return { code: 0, stdout: "rolled-back\n", stderr: "" };
  },
}));

afterEach(() => vi.useRealTimers());

it("gives up within the timeout even when the wall clock steps back", async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
  const c = { host: "h", port: 22, user: "root", privateKey: "k", dialErrorLimit: 1, perDialTimeout: 10 } as Connection;
  let outcome: Error | undefined;
  applyConfirmed(c, [], [], 30, "X").catch((e: Error) => (outcome = e));
  await vi.advanceTimersByTimeAsync(120_000);
  expect(outcome?.message).toMatch(/no fresh SSH connection could confirm the change within 30s.*rolled-back/);
  expect(calls.filter((x) => x === "confirm").length).toBeLessThan(10);
});
