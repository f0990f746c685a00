// Beyond one machine (issue 9): several people or CI jobs share one state backend, here Pulumi's
// PostgreSQL DIY backend (PULUMI_BACKEND_URL=postgres://...) on a private cluster. Two stacks of
// one fleet (a region or rack each) update at the same time; a second update of the same stack
// is refused by the backend's lock and changes nothing.
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SshdFleet, SshdHost } from "../../bench/sshdFleet";
import { type CliStack, pulumi, sshLog } from "../e2e/lab";
import { CURRENT_QDISC, fleetRule, fleetStack, onHost, ruleFile, startFleet, stopFleet } from "./fleetStack";
import { type PgCluster, startPostgres } from "./postgres";

const rule = fleetRule("shared");
let pg: PgCluster;
let fleet: SshdFleet;
let a: CliStack;
let b: CliStack;

const converged = (h: SshdHost) => readFileSync(ruleFile(h, rule.fileName), "utf8") === rule.content;
/** The stacks' update locks in the backend's table (the DIY backend's .pulumi/locks/<stack>/). */
const locks = (...stacks: CliStack[]) =>
  Number(
    pg.sql(
      `SELECT count(*) FROM pulumi_state WHERE ${stacks.map((s) => `key LIKE '%/.pulumi/locks/%/${s.name}/%'`).join(" OR ")}`,
    ),
  );

beforeAll(async () => {
  [pg, fleet] = await Promise.all([startPostgres(), startFleet(6)]);
  // The table is Pulumi's: the backend creates it on first use.
  const env = { PULUMI_BACKEND_URL: pg.url };
  const tuning = { defaultQdisc: { qdisc: CURRENT_QDISC }, udevRules: [rule] };
  a = await fleetStack("e2e-fleet-shared-a", fleet, tuning, fleet.hosts.slice(0, 3), env);
  b = await fleetStack("e2e-fleet-shared-b", fleet, tuning, fleet.hosts.slice(3), env);
});

afterAll(async () => {
  await a?.remove();
  await b?.remove();
  stopFleet(fleet);
  await pg?.stop();
});

it("two stacks update at the same time on the shared backend", async () => {
  // Seen holding their locks at the same moment: the updates did overlap.
  let together = false;
  const watch = setInterval(() => (together ||= locks(a, b) === 2), 500);
  await Promise.all([a.up(), b.up()]).finally(() => clearInterval(watch));
  expect(together).toBe(true);
  expect(fleet.hosts.filter((h) => !converged(h))).toEqual([]);
  expect(
    pg.sql("SELECT count(*) FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/hosttune/e2e-fleet-shared-_.json'"),
  ).toBe("2");
});

it("while an update of a stack runs, a second one is refused by the lock and changes nothing", async () => {
  const [h1] = fleet.hosts;
  writeFileSync(ruleFile(h1, rule.fileName), "# edited by hand\n");
  // The first update waits for h1's host lock, held here, so it holds the stack's lock for as
  // long as this test needs.
  const holder = onHost(
    fleet,
    h1,
    "mkdir -p /run/hosttune && exec 9>>/run/hosttune/host.lock && flock 9 && echo held && cat",
  );
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on("data", (d) => String(d).includes("held") && resolve());
    holder.on("exit", (code) => reject(new Error(`could not hold h1's host lock (ssh rc ${code})`)));
  });
  // Each run with an SSH handshake log of its own (one line per connection hosttune makes).
  const firstLog = sshLog();
  let firstEnded = false;
  const first = pulumi(["up", "--yes", "--skip-preview", "--stack", a.name], undefined, a.env).finally(
    () => (firstEnded = true),
  );
  while (locks(a) === 0) {
    if (firstEnded) {
      const r = await first;
      throw new Error(`the first up ended before it was seen holding the lock:\n${r.stdout}${r.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  const secondLog = sshLog();
  const second = await pulumi(["up", "--yes", "--skip-preview", "--stack", a.name], undefined, a.env);
  expect(second.code).not.toBe(0);
  expect(second.stdout + second.stderr).toMatch(/the stack is currently locked by 1 lock\(s\)/);
  expect(secondLog()).toEqual([]);
  expect(converged(h1)).toBe(false);
  expect(locks(a)).toBe(1);

  holder.stdin!.end();
  const done = await first;
  expect(done.code, done.stdout + done.stderr).toBe(0);
  expect(converged(h1)).toBe(true);
  expect(locks(a)).toBe(0);
  // The log works (and the first run made one connection per host).
  expect(
    firstLog()
      .map((e) => e.host)
      .sort(),
  ).toEqual(fleet.hosts.slice(0, 3).map((h) => h.address));
  await Promise.all([a.preview({ expectNoChanges: true }), b.preview({ expectNoChanges: true })]);
});
