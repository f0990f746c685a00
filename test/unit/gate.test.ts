// The per-host gate: commands share a host; a commit-confirmed change has it alone.
import { describe, expect, it } from "vitest";
import { Gate } from "../../providers/core/transport";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Gate", () => {
  it("an exclusive holder waits for shared work in flight, and new shared work waits for it", async () => {
    const g = new Gate();
    const log: string[] = [];
    const shared = (name: string, ms: number) =>
      g.with(false, async () => {
        log.push(`${name}+`);
        await tick(ms);
        log.push(`${name}-`);
      });
    const a = shared("a", 30);
    const x = g.with(true, async () => {
      log.push("X+");
      await tick(30);
      log.push("X-");
    });
    const b = shared("b", 5);
    await Promise.all([a, x, b]);
    expect(log).toEqual(["a+", "a-", "X+", "X-", "b+", "b-"]);
  });

  it("shared holders run together", async () => {
    const g = new Gate();
    let peak = 0;
    let now = 0;
    await Promise.all(
      [1, 2, 3].map(() =>
        g.with(false, async () => {
          peak = Math.max(peak, ++now);
          await tick(10);
          now--;
        }),
      ),
    );
    expect(peak).toBe(3);
  });
});
