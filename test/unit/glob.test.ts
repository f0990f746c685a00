import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { globMatch } from "../../providers/core/glob";
import { nameGlob } from "../../providers/core/names";
import { join, sh } from "../../providers/core/quote";

describe("globMatch", () => {
  it.each([
    ["tap*", "tap0", true],
    ["tap*", "xtap0", false],
    ["eth?", "eth1", true],
    ["eth?", "eth10", false],
    ["eth[0-3]", "eth2", true],
    ["eth[!0-3]", "eth2", false],
    ["veth.x", "vethax", false],
    ["*", "anything", true],
  ])("%s vs %s -> %s", (glob, name, want) => {
    expect(globMatch(glob, name)).toBe(want);
  });
});

// The same globs reach sh (`case`, in NicCoalescing's udev rule) and udev (KERNEL==): the local
// matcher must agree with them.
const GLOBS = [
  "[!a]",
  "[a-c]",
  "[!a-c]",
  "[]a]",
  "[!]a]",
  "[]-a]",
  "[a-]",
  "[-a]",
  "[!]",
  "[",
  "a[",
  "[ab",
  "*[ab",
  "[*]",
  "[?]",
  "[[]",
  "[a[]",
  "[]]",
  "[!!]",
  "eth[0-3]",
  "eth[!0-3]*",
  "e*[0-9]",
  "?[.]?",
  "[a-c-e]",
  "[!-a]",
  "[--0]",
  "[a-a]",
];
const NAMES = ["a", "b", "c", "d", "z", "]", "[", "!", "-", "*", "?", ".", "^", "_", "ab", "a]", "a[", "[!]", "[ab"];
const NAMES2 = ["eth0", "eth4", "eth10", "eth-1", "e0", "a.b", "a:b", "x"];

describe("globMatch agrees with sh", () => {
  it("over a table of globs and names", () => {
    const cases = GLOBS.flatMap((g) => [...NAMES, ...NAMES2].map((n) => [g, n] as const));
    const script = join(cases.map(([g, n]) => sh`g=${g}; n=${n}; case $n in $g) echo 1 ;; *) echo 0 ;; esac`));
    const shell = execFileSync("sh", ["-c", script.text], { encoding: "utf8" }).trim().split("\n");
    const mismatches = cases.flatMap(([g, n], i) =>
      globMatch(g, n) === (shell[i] === "1") ? [] : [`${g} vs ${n}: sh says ${shell[i]}`],
    );
    expect(mismatches).toEqual([]);
  });
});

describe("nameGlob", () => {
  it.each([
    ["[z-a]", /range z-a is backwards/],
    ["eth[9-0]", /range 9-0 is backwards/],
    ["eth[[:digit:]]", /character classes/],
  ])("refuses %s, which no matcher can use", (glob, message) => {
    const r = nameGlob.safeParse(glob);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join("; ")).toMatch(message);
  });

  it.each(GLOBS)("accepts %s", (glob) => {
    expect(nameGlob.safeParse(glob).success).toBe(true);
  });
});
