// The generic runner against a real sshd on this machine, with a kind of its own that manages a
// file in a temporary directory: a connection cut in the middle of a change is reported as an
// unknown outcome (never "as it was"), and the journal it leaves on the host keeps the original,
// so the next create does not adopt our half-applied change and delete puts the original back.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { fileContent, fileFact, fileSteps } from "../../providers/core/files";
import { holdScript } from "../../providers/core/hostLock";
import { journalPath } from "../../providers/core/journal";
import { sh } from "../../providers/core/quote";
import { type Outputs, SpecProvider } from "../../providers/core/runner";
import { defineSpec } from "../../providers/core/spec";
import { closeAll } from "../../providers/core/transport";
import { suiteSshd } from "./sshd";

const schema = z.object({
  path: z.string(),
  content: z.string(),
  holdUntil: z.string().optional(),
  failAfterWrite: z.boolean().optional(),
  /** A step after the write that takes this long (a slow change). */
  slowSeconds: z.number().optional(),
});
type D = z.infer<typeof schema>;
type O = { content: string | null };
const toy = defineSpec<D, O, O, z.input<typeof schema>>(
  "ToyFile",
  schema,
  (d) => `toy/${d.path}`,
  {
    probeFacts: (d) => ({ file: fileFact(d.path) }),
    observe: (f) => ({ content: fileContent(f.file) }),
  },
  {
    // A host the planner refuses as it is now (as ManagementVrf refuses an interface no manager owns).
    want: (d, o) => {
      if (o.content === "unplannable\n") throw new Error("the file says it cannot be planned for");
      return { content: d.content };
    },
    restore: (_d, recorded) => recorded,
    // The write first, then a step that waits for a file: a cut during it leaves the change
    // half-made, however slow the machine. (Not when putting back: the rollback runs through.)
    plan: (t, o, d) => {
      const steps = fileSteps(d.path, t.content, o.content);
      const hold = { describe: "hold", run: sh`while [ ! -e ${d.holdUntil ?? ""} ]; do sleep 0.1; done` };
      const fail = { describe: "fail", run: sh`exit 3` };
      const slow = { describe: "slow", run: sh`sleep ${String(d.slowSeconds)}` };
      if (!steps.length || t.content !== d.content) return steps;
      return [
        ...steps,
        ...(d.holdUntil ? [hold] : []),
        ...(d.failAfterWrite ? [fail] : []),
        ...(d.slowSeconds ? [slow] : []),
      ];
    },
    drift: (t, o) => (t.content === o.content ? [] : [{ field: "content", asked: t.content, got: o.content }]),
  },
);

describe("runner (real sshd)", { timeout: 60_000 }, () => {
  const suite = suiteSshd();

  it("an SSH cut mid-apply is an unknown outcome; the next create keeps the original; delete restores it", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    const connection = suite.sshd.connection;
    const first = p.create({ connection, desired: { path, content: "ours\n", holdUntil: `${path}.never` } });
    const failed = first.then(
      () => "succeeded",
      (e: Error) => e.message,
    );
    for (let i = 0; i < 1200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(path, "utf8")).toBe("ours\n");
    suite.sshd.cut();
    expect(await failed).toMatch(/connection was lost during the change .*outcome is unknown/);
    closeAll();

    const { id, outs } = await p.create({ connection, desired: { path, content: "ours\n" } });
    expect((outs as Outputs).recorded).toEqual({ content: null });
    await p.delete(id, outs as Outputs);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(journalPath("ToyFile", `toy/${path}`))).toBe(false);
  });

  it("a change killed at its deadline is rolled back: the host is as it was, and the error says both", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    writeFileSync(path, "theirs\n");
    // Long enough for the write before the hold to happen on a loaded machine (at 2 s it could not).
    const connection = { ...suite.sshd.connection, commandTimeout: 10 };
    const failed = await p
      .create({ connection, desired: { path, content: "ours\n", holdUntil: `${path}.never` } })
      .then(
        () => "succeeded",
        (e: Error) => e.message,
      );
    expect(failed).toMatch(
      /timed out after 10s; the remote command was killed \(rolled back to what the host had before\)/,
    );
    expect(readFileSync(path, "utf8")).toBe("theirs\n");
  });

  it("a change takes 1 session: the host lock's, whose holder runs the probe and the steps with the verify read", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    writeFileSync(path, "theirs\n");
    const before = suite.sshd.sessions();
    const r = await p.create({ connection: suite.sshd.connection, desired: { path, content: "ours\n" } });
    expect(suite.sshd.sessions() - before).toBe(1);
    expect(r.outs).toMatchObject({ observed: { content: "ours\n" }, recorded: { content: "theirs\n" } });
    expect(readFileSync(path, "utf8")).toBe("ours\n");
  });

  // The probe is told to the holder as the lock is asked for: it must wait for another run's lock.
  it("a change waits for another run that holds the host's lock, and goes once it lets go", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    writeFileSync(path, "theirs\n");
    const other = spawn("sh", ["-c", holdScript("another run", 5).text], { stdio: ["pipe", "pipe", "ignore"] });
    await new Promise<void>((locked) =>
      other.stdout.on("data", (b) => String(b).includes("hosttune-locked") && locked()),
    );
    let done = false;
    const change = p.create({ connection: suite.sshd.connection, desired: { path, content: "ours\n" } });
    void change.finally(() => (done = true));
    await new Promise((r) => setTimeout(r, 2000));
    expect([done, readFileSync(path, "utf8")]).toEqual([false, "theirs\n"]);
    other.stdin.end();
    const r = await change;
    expect(r.outs).toMatchObject({ observed: { content: "ours\n" }, recorded: { content: "theirs\n" } });
  });

  // bin/pulumi saves the state at the end of a run: one killed after its changes saved nothing.
  it("the host keeps the original from the first change until delete: a create whose state was lost records it", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    const journal = journalPath("ToyFile", `toy/${path}`);
    writeFileSync(path, "theirs\n");
    const connection = suite.sshd.connection;
    await p.create({ connection, desired: { path, content: "ours\n" } });
    const record = readFileSync(journal, "utf8");
    expect(JSON.parse(record)).toMatchObject({ recorded: { content: "theirs\n" } });
    // The state of that run lost: the same resource created again adopts our value, and records theirs.
    const again = await p.create({ connection, desired: { path, content: "ours, again\n" } });
    expect((again.outs as Outputs).recorded).toEqual({ content: "theirs\n" });
    expect(readFileSync(journal, "utf8")).toBe(record);
    await p.delete(again.id, again.outs as Outputs);
    expect(readFileSync(path, "utf8")).toBe("theirs\n");
    expect(existsSync(journal)).toBe(false);
  });

  it("a host the planner refuses as it is now is drift on refresh, named by the planner; destroy still restores", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    writeFileSync(path, "theirs\n");
    const connection = suite.sshd.connection;
    const { id, outs } = await p.create({ connection, desired: { path, content: "ours\n" } });
    writeFileSync(path, "unplannable\n");
    const read = await p.read(id, outs as Outputs);
    expect((read.props as Outputs).drift).toEqual([
      "cannot plan for this host as it is now: the file says it cannot be planned for",
    ]);
    await p.delete(id, read.props as Outputs);
    expect(readFileSync(path, "utf8")).toBe("theirs\n");
  });

  // Left behind, the journal would give a later create (another stack, say) this run's "before".
  it("a failed change rolled back leaves no journal: the host is as it was, and nothing is pending", async () => {
    const p = new SpecProvider(toy);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-runner-")), "f");
    writeFileSync(path, "theirs\n");
    const failed = await p
      .create({ connection: suite.sshd.connection, desired: { path, content: "ours\n", failAfterWrite: true } })
      .then(
        () => "succeeded",
        (e: Error) => e.message,
      );
    expect(failed).toMatch(/step 2\/2 "fail" failed \(rc \d+\).*\(rolled back to what the host had before\)/);
    expect(readFileSync(path, "utf8")).toBe("theirs\n");
    expect(existsSync(journalPath("ToyFile", `toy/${path}`))).toBe(false);
  });
});

// A kind that measures its effect: the file's content before the change and after it.
const measured = defineSpec<D, O, O, z.input<typeof schema>>(
  "ToyMeasured",
  schema,
  (d) => `toy-measured/${d.path}`,
  { probeFacts: toy.facts, observe: toy.observe },
  toy,
  {
    effect: (d) => ({
      // Content that says "slow": a measurement that outlives its deadline.
      facts: { seen: sh`cat ${d.path}; case ${d.content} in *slow*) sleep 30;; esac` },
      timeoutMs: d.content.includes("slow") ? 1000 : 30_000,
      read: (f) => f.seen.out,
    }),
  },
);

describe("runner: changes to one host (real sshd)", { timeout: 120_000 }, () => {
  const suite = suiteSshd();

  // The host's lock keeps two runs apart, and its wait is limited (120 s) for that. A deployment's
  // own changes to one host queue in the deployment instead: on a slow machine, the sixth of six
  // would otherwise run out of that wait behind its siblings and be reported as blocked by
  // "another hosttune run" (the 200-host converge under load).
  it("a deployment's own changes to a host wait on each other here, never on the host's lock", async () => {
    const p = new SpecProvider(toy);
    const dir = mkdtempSync(join(tmpdir(), "hosttune-serial-"));
    // A change waiting on the host's lock: a `flock -w` process seen by two samples in a row (an
    // uncontended one is gone within milliseconds).
    const flocks = () =>
      execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" })
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => /^\d+ flock -w /.test(l));
    let seen: string[] = [];
    let most = 0;
    const sampler = setInterval(() => {
      const now = flocks();
      most = Math.max(most, now.filter((f) => seen.includes(f)).length);
      seen = now;
    }, 100);
    try {
      const changes = [1, 2, 3, 4].map((i) =>
        p.create({
          connection: suite.sshd.connection,
          desired: { path: join(dir, `f${i}`), content: `${i}\n`, slowSeconds: 3 },
        }),
      );
      await Promise.all(changes);
    } finally {
      clearInterval(sampler);
    }
    for (const i of [1, 2, 3, 4]) expect(readFileSync(join(dir, `f${i}`), "utf8")).toBe(`${i}\n`);
    expect(most).toBe(0);
  });

  // Under the lock a probe goes at once (no wait for more reads to join, as a refresh's do),
  // through the lock's holder, and so do the steps.
  it("changes that wait for the host's lock probe and change it through the lock's holder, in no session of their own", async () => {
    const p = new SpecProvider(toy);
    const dir = mkdtempSync(join(tmpdir(), "hosttune-probes-"));
    const before = suite.sshd.sessions();
    await Promise.all(
      [1, 2, 3, 4].map((i) =>
        p.create({ connection: suite.sshd.connection, desired: { path: join(dir, `f${i}`), content: `${i}\n` } }),
      ),
    );
    // The lock's: each one's probe, steps and verify read go through its holder.
    expect(suite.sshd.sessions() - before).toBe(1);
    for (const i of [1, 2, 3, 4]) expect(readFileSync(join(dir, `f${i}`), "utf8")).toBe(`${i}\n`);
  });
});

describe("runner: a change's measured effect (real sshd)", { timeout: 120_000 }, () => {
  const suite = suiteSshd();

  it("is measured before the change and after it is verified, kept while nothing changes", async () => {
    const p = new SpecProvider(measured);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-effect-")), "f");
    writeFileSync(path, "theirs\n");
    const connection = suite.sshd.connection;
    const { outs } = await p.create({ connection, desired: { path, content: "ours\n" } });
    expect(outs.effect).toMatchObject({ before: "theirs\n", after: "ours\n" });
    const same = await p.update("id", outs, { connection, desired: { path, content: "ours\n" } });
    expect(same.outs.effect).toEqual(outs.effect);
  });

  it("one that cannot run says so, and the change still goes through", async () => {
    const p = new SpecProvider(measured);
    const path = join(mkdtempSync(join(tmpdir(), "hosttune-effect-")), "f");
    const { outs } = await p.create({
      connection: suite.sshd.connection,
      desired: { path, content: "ours, slow\n" },
    });
    expect(readFileSync(path, "utf8")).toBe("ours, slow\n");
    expect(outs.effect).toMatchObject({ before: { cannotMeasure: expect.stringMatching(/timed out/) } });
  });
});
