// UdevRule: rendering and validation of structured rules, udev's verdict parsed from probes
// captured on a lab VM (udevRule-good.txt: the domain's tap rule; udevRule-rejected.txt: a rule
// with an unknown key and a bad operator), and the planner.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { factScript, parseFacts } from "../../providers/core/facts";
import { UDEV_RELOAD } from "../../providers/core/files";
import { applyScript } from "../../providers/core/steps";
import { plan, restore, triggerCommand, want } from "../../providers/udevRule/plan";
import { observe, probeFacts } from "../../providers/udevRule/probe";
import { renderRules, ruleText, udevRuleSchema } from "../../providers/udevRule/schema";

const fixture = (name: string) => parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", name), "utf8"));
const TAP =
  'ACTION=="add|change", SUBSYSTEM=="net", KERNEL=="tap*", RUN+="/sbin/tc qdisc replace dev $env{INTERFACE} root handle 1000: noqueue"';

describe("UdevRule schema", () => {
  it("renders structured rules to the same text as the domain example", () => {
    const d = udevRuleSchema.parse({
      fileName: "90-tap.rules",
      rules: [
        [
          { key: "ACTION", op: "==", value: "add|change" },
          { key: "SUBSYSTEM", op: "==", value: "net" },
          { key: "KERNEL", op: "==", value: "tap*" },
          { key: "RUN", op: "+=", value: "/sbin/tc qdisc replace dev $env{INTERFACE} root handle 1000: noqueue" },
        ],
      ],
    });
    expect(ruleText(d)).toBe(TAP + "\n");
    expect(renderRules([[{ key: "ATTR{queue/scheduler}", op: "=", value: "bfq" }]])).toBe(
      'ATTR{queue/scheduler}="bfq"\n',
    );
  });

  it.each([
    [{ fileName: "tap.rules", content: "x" }, /NN-name\.rules/],
    [{ fileName: "90-../x.rules", content: "x" }, /NN-name\.rules|'\.\.'/],
    [{ fileName: "90-a/b.rules", content: "x" }, /NN-name\.rules/],
    [{ fileName: "90-x.rules" }, /exactly one of content or rules/],
    [{ fileName: "90-x.rules", content: "x", rules: [[{ key: "A", op: "==", value: "b" }]] }, /exactly one/],
    [{ fileName: "90-x.rules", rules: [[{ key: "kernel", op: "==", value: "x" }]] }, /udev key/],
    [{ fileName: "90-x.rules", rules: [[{ key: "KERNEL", op: "~=", value: "x" }]] }, /one of == != = \+= -= :=/],
    [{ fileName: "90-x.rules", rules: [[{ key: "KERNEL", op: "==", value: 'x", RUN+="/bin/evil' }]] }, /double quotes/],
    [{ fileName: "90-x.rules", rules: [[{ key: "KERNEL", op: "==", value: "x\nRUN+=y" }]] }, /newlines/],
    [{ fileName: "90-x.rules", content: "x", trigger: { sysname: "tap*; reboot" } }, /glob/],
  ])("rejects %j", (input, message) => {
    const r = udevRuleSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join("; ")).toMatch(message);
  });
});

describe("UdevRule probe and planner", () => {
  const d = udevRuleSchema.parse({
    fileName: "90-tap.rules",
    content: TAP,
    trigger: { subsystem: "net", sysname: "tap*" },
  });

  it("accepts what udev accepts and plans write, reload and a scoped trigger", () => {
    const o = observe(fixture("udevRule-good.txt"));
    expect(o).toEqual({ file: null, rejected: null });
    const steps = plan(want(d, o), o, d);
    expect(steps.map((s) => s.describe)).toEqual([
      "write /etc/udev/rules.d/90-tap.rules",
      "udevadm control --reload",
      "udevadm trigger (action=change, subsystem=net, sysname=tap*)",
    ]);
    expect(steps[2]).toMatchObject({
      run: {
        text: "udevadm trigger --action=change --subsystem-match=net '--sysname-match=tap*' && udevadm settle --timeout=60",
      },
    });
  });

  it("refuses a rule udev rejects, with udev's own message, before any step", () => {
    const o = observe(fixture("udevRule-rejected.txt"));
    expect(() => want(d, o)).toThrow(
      /udev rejects 90-tap\.rules; nothing was changed.*90-bad\.rules:1 Invalid key 'FOO'.*Invalid operator for SUBSYSTEM/s,
    );
  });

  it("plans nothing when the file matches, and restore removes a file create did not find", () => {
    const converged = { file: TAP + "\n", rejected: null };
    expect(plan(want(d, converged), converged, d)).toEqual([]);
    expect(plan(restore(d, { file: null, rejected: null }), converged, d).map((s) => s.describe)).toEqual([
      "remove /etc/udev/rules.d/90-tap.rules",
      "udevadm control --reload",
      "udevadm trigger (action=change, subsystem=net, sysname=tap*)",
    ]);
  });

  it("quotes property matches", () => {
    expect(triggerCommand({ action: "add", properties: { ID_BUS: "ata disk" } }).text).toBe(
      "udevadm trigger --action=add '--property-match=ID_BUS=ata disk' && udevadm settle --timeout=60",
    );
  });
});

describe("UdevRule check on a host without udevadm", () => {
  it("is an error, never a pass", () => {
    // A PATH with what the probe needs but udevadm.
    const bin = mkdtempSync(join(tmpdir(), "hosttune-bin-"));
    for (const tool of ["sh", "mktemp", "rm", "mkdir", "cp", "base64", "cat", "grep", "unshare", "mount"])
      symlinkSync(spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim(), join(bin, tool));
    const d = udevRuleSchema.parse({ fileName: "90-tap.rules", content: TAP });
    const r = spawnSync("sh", ["-c", factScript(probeFacts(d)).text], { encoding: "utf8", env: { PATH: bin } });
    expect(() => observe(parseFacts(r.stdout))).toThrow(/cannot check the rule.*udevadm/);
  });
});

describe("the reload after a rule changes", () => {
  // A udevadm that refuses `fails` times as a busy udevd does, then reloads.
  function reload(fails: number) {
    const bin = mkdtempSync(join(tmpdir(), "hosttune-bin-"));
    writeFileSync(
      join(bin, "udevadm"),
      `#!/bin/sh\nn=$(cat "$0.n" 2>/dev/null || echo 0); echo $((n + 1)) > "$0.n"\n` +
        `[ "$n" -ge ${fails} ] && exit 0\necho "Failed to send reload request: Resource temporarily unavailable" >&2; exit 1\n`,
      { mode: 0o755 },
    );
    const script = applyScript([UDEV_RELOAD]).text.replace(/^.*flock -w 120 9 \|\|.*$/m, "");
    const r = spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin` } });
    return { code: r.status, tries: Number(readFileSync(join(bin, "udevadm.n"), "utf8")), stderr: r.stderr };
  }

  it("asks a busy udevd again, a second later", { timeout: 20_000 }, () => {
    expect(reload(2)).toMatchObject({ code: 0, tries: 3 });
  });

  it("fails after 5 refusals, saying what udevadm said", { timeout: 20_000 }, () => {
    const r = reload(99);
    expect(r).toMatchObject({ code: 1, tries: 5 });
    expect(r.stderr).toMatch(/Resource temporarily unavailable/);
  });
});
