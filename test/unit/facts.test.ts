import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { fact, factScript, parseFacts } from "../../providers/core/facts";
import { sh } from "../../providers/core/quote";

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

  it("names a fact the output lacks", () => {
    expect(() => fact({}, "runtime")).toThrow(/no 'runtime' fact/);
  });
});
