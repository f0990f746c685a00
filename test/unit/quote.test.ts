import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { join, quote, raw, sh } from "../../providers/core/quote";

const HOSTILE = [
  "plain",
  "with space",
  "it's",
  `"double"`,
  "$(touch /tmp/hosttune-pwned)",
  "`id`",
  "a; rm -rf /",
  "line1\nline2",
  "tab\there",
  "ünïcødé ✓",
  "*",
  "-n",
  "",
  "back\\slash",
  "'; echo '",
  "$HOME",
];

/** What a real POSIX shell makes of the text: each argument printed between NUL bytes. */
function shellArgs(script: string): string[] {
  const out = execFileSync("sh", ["-c", `${script}`], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

describe("quote", () => {
  it.each(HOSTILE)("passes %j through sh unchanged", (value) => {
    expect(shellArgs(`printf '%s\\0' ${quote(value)}`)).toEqual([value]);
  });

  it("quotes every interpolation of the sh tag, arrays element by element", () => {
    const s = sh`printf '%s\0' ${HOSTILE}`;
    expect(shellArgs(s.text)).toEqual(HOSTILE);
  });

  it("keeps raw fragments as shell and joins them", () => {
    const inner = sh`echo ${"a b"}`;
    expect(sh`${inner}; ${raw("echo c")}`.text).toBe("echo 'a b'; echo c");
    expect(join([raw("a"), raw("b")], " && ").text).toBe("a && b");
  });

  it("leaves simple words bare and refuses NUL", () => {
    expect(quote("eth0")).toBe("eth0");
    expect(quote(42)).toBe("42");
    expect(() => quote("a\0b")).toThrow(/NUL/);
  });

  it("never runs a command hidden in a value", () => {
    execFileSync("sh", ["-c", sh`echo ${"$(touch /tmp/hosttune-pwned-2)"} > /dev/null`.text]);
    expect(() => execFileSync("test", ["-e", "/tmp/hosttune-pwned-2"])).toThrow();
  });
});
