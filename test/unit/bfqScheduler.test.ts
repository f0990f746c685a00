// BfqScheduler: the scheduler list parser, selection by glob and properties, the udev rule,
// and the planner, on a probe captured from a lab VM (rotational AHCI sda, non-rotational SCSI
// sdb, virtio vda, loop devices).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFacts } from "../../providers/core/facts";
import { drift, plan, renderRule, restore, want } from "../../providers/bfqScheduler/plan";
import { observe, parseDisks } from "../../providers/bfqScheduler/probe";
import { bfqSchedulerSchema } from "../../providers/bfqScheduler/schema";

const facts = () => parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", "bfqScheduler.txt"), "utf8"));
const desired = (x: unknown) => bfqSchedulerSchema.parse(x);

describe("BfqScheduler probe", () => {
  it("parses scheduler lists with the active one in brackets", () => {
    expect(
      parseDisks(
        "sda|mq-deadline [bfq] none|1|0|1|/sys/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sda\n" +
          "nvme0n1|[none] mq-deadline kyber bfq|0|0|4\n",
      ),
    ).toEqual({
      sda: {
        scheduler: "bfq",
        available: ["mq-deadline", "bfq", "none"],
        rotational: true,
        removable: false,
        queues: 1,
        path: "/sys/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0",
      },
      nvme0n1: {
        scheduler: "none",
        available: ["none", "mq-deadline", "kyber", "bfq"],
        rotational: false,
        removable: false,
        queues: 4,
        path: "nvme0n1",
      },
    });
  });

  it("selects by glob and by properties, and knows bfq is a loadable module on the lab kernel", () => {
    const o = observe(facts(), desired({ match: "sd*" }));
    expect(o).toMatchObject({
      bfq: "module",
      rule: null,
      disks: { sda: { scheduler: "mq-deadline", rotational: true, queues: 1 } },
    });
    expect(Object.keys(o.disks)).toEqual(["sda", "sdb"]);
    expect(Object.keys(observe(facts(), desired({ match: "sd*", rotational: true })).disks)).toEqual(["sda"]);
    expect(
      Object.keys(observe(facts(), desired({ match: "[sv]d?", rotational: true, singleQueue: true })).disks),
    ).toEqual(["sda", "vda"]);
    expect(Object.keys(observe(facts(), desired({ rotational: false })).disks)).toEqual(["sdb"]);
  });

  it("a disk whose scheduler list lacks bfq once bfq is loaded is a clear error", () => {
    const f = facts();
    f.bfq = { rc: 0, out: "loaded\n" };
    expect(() => observe(f, desired({ match: "sda" }))).toThrow(
      /sda cannot use bfq: its schedulers are mq-deadline, none/,
    );
  });

  it("a kernel without bfq is a clear error", () => {
    const f = facts();
    f.bfq = { rc: 0, out: "absent\n" };
    expect(() => observe(f, desired({ match: "sda" }))).toThrow(/no bfq I\/O scheduler/);
  });
});

describe("BfqScheduler planner", () => {
  const d = desired({ match: "sd*", rotational: true, singleQueue: true });
  const o = observe(facts(), d);

  it("renders a rule matching the same set", () => {
    expect(renderRule(d).split("\n")[1]).toBe(
      'ACTION=="add|change", SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL=="sd*", ATTR{queue/rotational}=="1", TEST!="mq/1", ATTR{queue/scheduler}="bfq"',
    );
  });

  it("loads bfq, selects it per disk, writes the rule and reloads udev", () => {
    expect(plan(want(d, o), o, d).map((s) => s.describe)).toEqual([
      "modprobe bfq",
      "select bfq for sda (was mq-deadline)",
      "write /etc/udev/rules.d/60-hosttune-bfq-sd_.rules",
      "udevadm control --reload",
    ]);
  });

  it("restores by hardware path when sd* names swapped at boot", () => {
    const rec = {
      ...o,
      disks: {
        sda: { ...o.disks.sda, path: "/ahci", scheduler: "mq-deadline" },
        sdb: { ...o.disks.sda, path: "/scsi", scheduler: "none" },
      },
    };
    const now = {
      ...o,
      disks: {
        sda: { ...o.disks.sda, path: "/scsi", scheduler: "bfq" },
        sdb: { ...o.disks.sda, path: "/ahci", scheduler: "bfq" },
      },
    };
    expect(restore(d, rec, now).disks).toEqual({ sda: "none", sdb: "mq-deadline" });
  });

  it("restores each disk's recorded scheduler and reports drift", () => {
    const converged = {
      ...o,
      bfq: "loaded" as const,
      disks: { sda: { ...o.disks.sda, scheduler: "bfq" } },
      rule: renderRule(d),
    };
    expect(drift(want(d, converged), converged)).toEqual([]);
    expect(restore(d, o, converged)).toEqual({ disks: { sda: "mq-deadline" }, rule: null });
    expect(plan(restore(d, o, converged), converged, d).map((s) => s.describe)).toEqual([
      "select mq-deadline for sda (was bfq)",
      "remove /etc/udev/rules.d/60-hosttune-bfq-sd_.rules",
      "udevadm control --reload",
    ]);
  });
});
