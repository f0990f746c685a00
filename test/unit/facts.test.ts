import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  concurrently,
  fact,
  factScript,
  type FactSources,
  inShell,
  parseFacts,
  readFacts,
  settled,
  slurp,
} from "../../providers/core/facts";
import { fileContent, fileFact } from "../../providers/core/files";
import { journalFact } from "../../providers/core/journal";
import { sh } from "../../providers/core/quote";
import { handshakeCount } from "../../providers/core/transport";
import { suiteSshd } from "./sshd";

describe("facts", () => {
  it("runs every fact in one script and returns output and exit code by name", () => {
    const script = factScript({
      a: sh`printf 'one\ntwo\n'`,
      missing: sh`echo nope >&2; exit 3`,
      noNewline: sh`printf 'x'`,
      empty: sh`true`,
    });
    const facts = parseFacts(execFileSync("sh", ["-c", script.text], { encoding: "utf8" }));
    expect(facts).toEqual({
      a: { rc: 0, out: "one\ntwo\n" },
      missing: { rc: 3, out: "nope\n" },
      noNewline: { rc: 0, out: "x" },
      empty: { rc: 0, out: "" },
    });
  });

  it("a fact that fails does not stop the others", () => {
    const facts = parseFacts(
      execFileSync("sh", ["-c", factScript({ bad: sh`false`, good: sh`echo ok` }).text], { encoding: "utf8" }),
    );
    expect(fact(facts, "good").out).toBe("ok\n");
    expect(fact(facts, "bad").rc).toBe(1);
  });

  it("in-shell facts read files exactly and start no process (no PATH at all)", () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-facts-"));
    const files = {
      plain: "one\ntwo\n",
      noNewline: "a\\b \\n 'q' \"dq\" $HOME `x`\n  lead and trail  \n\n\nlast",
      empty: "",
      blankLines: "\n\n",
    };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    mkdirSync(join(dir, "folder"));
    const facts: FactSources = {
      ...Object.fromEntries(Object.keys(files).map((n) => [n, fileFact(join(dir, n))])),
      missing: fileFact(join(dir, "missing")),
      noJournal: journalFact("Kind", "nothing here"),
      same: inShell(sh`${slurp(join(dir, "plain"))} && [ "$ht_s" = ${files.plain} ] && return 0; return 1`),
      differs: inShell(sh`${slurp(join(dir, "plain"))} && [ "$ht_s" = ${"one\ntwo"} ] && return 0; return 1`),
    };
    for (const script of [factScript(facts), concurrently(facts)]) {
      const out = parseFacts(execFileSync("/bin/sh", ["-c", script.text], { encoding: "utf8", env: { PATH: "" } }));
      for (const [name, content] of Object.entries(files)) expect(fileContent(fact(out, name))).toBe(content);
      expect(fact(out, "missing").rc).toBe(3);
      expect(fileContent(fact(out, "missing"))).toBeNull();
      expect(fact(out, "noJournal")).toEqual({ rc: 0, out: "" });
      expect(fact(out, "same").rc).toBe(0);
      expect(fact(out, "differs").rc).toBe(1);
    }
    // A folder is not read as an empty file: it is cat's to refuse.
    const folder = parseFacts(
      execFileSync("sh", ["-c", factScript({ f: fileFact(join(dir, "folder")) }).text], { encoding: "utf8" }),
    );
    expect(fact(folder, "f").rc).not.toBe(0);
  });

  it("in-shell and subshell facts mix, side by side or in order, each with its own output and code", () => {
    const facts: FactSources = {
      own: inShell(sh`echo in-shell; return 4`),
      exits: sh`echo sub; exit 5`,
      slow: sh`sleep 0.2; echo slow`,
      after: inShell(sh`echo "$ht_s"`),
    };
    for (const script of [factScript(facts), concurrently(facts)]) {
      const out = parseFacts(execFileSync("sh", ["-c", script.text], { encoding: "utf8" }));
      expect(out).toEqual({
        own: { rc: 4, out: "in-shell\n" },
        exits: { rc: 5, out: "sub\n" },
        slow: { rc: 0, out: "slow\n" },
        after: { rc: 0, out: "\n" },
      });
    }
  });

  it("names a fact the output lacks", () => {
    expect(() => fact({}, "runtime")).toThrow(/no 'runtime' fact/);
  });
});

// The refresh of a fleet reads every resource of a host at once: those reads share one shell.
describe("readFacts (real sshd)", { timeout: 60_000 }, () => {
  const suite = suiteSshd();

  it("reads of one host that arrive together run as one script, each getting its own facts", async () => {
    const before = handshakeCount();
    const reads = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        readFacts(suite.sshd.connection, { shell: sh`echo $$`, own: sh`echo ${`read ${i}`}; exit ${i}` }),
      ),
    );
    expect(handshakeCount() - before).toBe(1);
    expect(new Set(reads.map((r) => r.facts.shell.out)).size).toBe(1);
    reads.forEach((r, i) => expect(r.facts.own).toEqual({ rc: i, out: `read ${i}\n` }));
    // A read made later is a batch of its own.
    const later = await readFacts(suite.sshd.connection, { shell: sh`echo $$` });
    expect(later.facts.shell.out).not.toBe(reads[0].facts.shell.out);
  });

  it("reads that trickle in a few milliseconds apart still share one script", async () => {
    const reads: Promise<{ facts: Record<string, { out: string }> }>[] = [];
    for (let i = 0; i < 4; i++) {
      reads.push(readFacts(suite.sshd.connection, { shell: sh`echo $$` }));
      await new Promise((r) => setTimeout(r, 15));
    }
    const shells = new Set((await Promise.all(reads)).map((r) => r.facts.shell.out));
    expect(shells.size).toBe(1);
  });

  it("a batch too long for one command line goes as several, none lost", async () => {
    const big = "x".repeat(10_000);
    const reads = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        readFacts(suite.sshd.connection, { shell: sh`echo $$`, own: sh`printf '%s' ${big + i}` }),
      ),
    );
    reads.forEach((r, i) => expect(r.facts.own.out).toBe(big + i));
    const shells = new Set(reads.map((r) => r.facts.shell.out)).size;
    expect(shells).toBeGreaterThan(1);
    expect(shells).toBeLessThan(5);
  });

  it("the reads of a batch run side by side on the host: one waiting does not hold up the next", async () => {
    const flag = join(mkdtempSync(join(tmpdir(), "hosttune-facts-")), "flag");
    const [waiter, setter] = await Promise.all([
      // Bounded: run one after the other, the first would give up after 20 s and say so.
      readFacts(suite.sshd.connection, {
        shell: sh`echo $$`,
        w: sh`i=0; while [ ! -e ${flag} ]; do i=$((i+1)); [ $i -lt 400 ] || { echo gave up; exit 1; }; sleep 0.05; done; echo saw it`,
      }),
      readFacts(suite.sshd.connection, { shell: sh`echo $$`, s: sh`touch ${flag}` }),
    ]);
    expect(waiter.facts.w).toEqual({ rc: 0, out: "saw it\n" });
    expect(setter.facts.s.rc).toBe(0);
    expect(waiter.facts.shell.out).toBe(setter.facts.shell.out);
  });

  it("a settled fact's success is read once per run for the same script and host; a failure every time", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-facts-"));
    const count = (name: string) => settled(sh`echo x >> ${join(dir, name)}; [ ! -e ${join(dir, "fail")} ]`);
    const read = async () =>
      (await readFacts(suite.sshd.connection, { now: sh`echo $$`, ok: count("ok"), other: count("other") })).facts;
    const first = await read();
    const second = await read();
    // Read again: the plain fact (a new shell), not the settled ones.
    expect(second.now.out).not.toBe(first.now.out);
    expect(second.ok).toEqual(first.ok);
    expect(readFileSync(join(dir, "ok"), "utf8")).toBe("x\n");
    expect(readFileSync(join(dir, "other"), "utf8")).toBe("x\n");
    // Another script (here, another file) is a verdict of its own; failures are never kept.
    writeFileSync(join(dir, "fail"), "");
    const failing = { bad: settled(sh`echo x >> ${join(dir, "bad")}; [ ! -e ${join(dir, "fail")} ]`) };
    for (let i = 0; i < 2; i++) expect((await readFacts(suite.sshd.connection, failing)).facts.bad.rc).toBe(1);
    expect(readFileSync(join(dir, "bad"), "utf8")).toBe("x\nx\n");
    // Only settled facts asked for: no session at all.
    expect((await readFacts(suite.sshd.connection, { ok: count("ok") })).facts.ok.rc).toBe(0);
    expect(readFileSync(join(dir, "ok"), "utf8")).toBe("x\n");
  });

  it("a host that cannot be reached fails every read of the batch", async () => {
    const c = { ...suite.sshd.connection, port: 1, dialErrorLimit: 1 };
    const reads = await Promise.allSettled([readFacts(c, { a: sh`true` }), readFacts(c, { b: sh`true` })]);
    for (const r of reads)
      expect(r.status === "rejected" && String(r.reason)).toMatch(/127\.0\.0\.1:1: cannot connect/);
  });
});
