import { describe, expect, it } from "vitest";
import { globMatch } from "../../providers/core/glob";

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
