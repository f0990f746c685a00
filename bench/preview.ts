// Fleet-scale measurements on running lab VMs (never a timed test):
//  1. wall time of `up` and of a plain `preview` (refresh: always) through the real CLI, for
//     H hosts x R DefaultQdisc resources per host, and SSH handshakes per deployment;
//  2. the alternative drift strategy, probing inside `diff`: the engine calls diff serially,
//     so its cost is the sum of the probes; measured in-process as serial vs concurrent `read`s
//     over one pooled connection per host.
// Usage: node dist/bench/preview.js <labDir> [resourcesPerHost=3]
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { openStack } from "./stack";
import { DefaultQdisc } from "../providers/catalog";
import { connectionSchema } from "../providers/core/connection";
import { closeAll, handshakeCount } from "../providers/core/transport";
import { provider } from "../providers/registry";

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
}

async function main() {
  const [labDir, perHostArg] = process.argv.slice(2);
  const perHost = Number(perHostArg ?? 3);
  const vms = readdirSync(labDir)
    .filter((d) => /^vm\d+$/.test(d))
    .map((d) => ({
      name: d,
      port: Number(readFileSync(join(labDir, d, "port"), "utf8")),
      hostKey: readFileSync(join(labDir, d, "host_key.pub"), "utf8")
        .split(" ")
        .slice(0, 2)
        .join(" "),
    }));
  const privateKey = readFileSync(join(labDir, "id_ed25519"), "utf8");
  process.env.PULUMI_BACKEND_URL = `file://${mkdtempSync(join(tmpdir(), "hosttune-bench-state-"))}`;
  const log = join(mkdtempSync(join(tmpdir(), "hosttune-bench-")), "ssh.jsonl");
  process.env.HOSTTUNE_SSH_LOG = log;

  // 1. Through the CLI: one stack with perHost resources on every VM.
  const stack = await openStack("bench", async () => {
    for (const v of vms)
      for (let i = 0; i < perHost; i++)
        new DefaultQdisc(`${v.name}-q${i}`, {
          connection: { host: "127.0.0.1", port: v.port, hostKey: v.hostKey, privateKey: pulumi.secret(privateKey) },
          qdisc: "fq",
          fileName: `90-bench-${i}.conf`,
        });
  });
  const [tUp] = await time(() => stack.up({ color: "never" }));
  const [tPrev] = await time(() => stack.preview({ color: "never", expectNoChanges: true }));
  const lines = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const perPid = new Map<number, number>();
  for (const l of lines) perPid.set(l.pid, (perPid.get(l.pid) ?? 0) + 1);
  // No destroy: several resources here own one sysctl on purpose (to count resources per host),
  // so their restores would race; the bench VMs are throwaway overlays anyway.
  await stack.workspace.removeStack("bench", { force: true });

  // 2. In-process: the same reads, serial (what SSH in diff costs) and concurrent (refresh).
  const p = provider("DefaultQdisc");
  const props = vms.flatMap((v) =>
    Array.from({ length: perHost }, (_, i) => ({
      connection: connectionSchema.parse({ host: "127.0.0.1", port: v.port, hostKey: v.hostKey, privateKey }),
      desired: { qdisc: "fq", fileName: `90-bench-${i}.conf` },
    })),
  );
  await Promise.all(props.map((x) => p.read("bench", x as never))); // warm the pool
  const [tSerial] = await time(async () => {
    for (const x of props) await p.read("bench", x as never);
  });
  const [tConc] = await time(() => Promise.all(props.map((x) => p.read("bench", x as never))));
  closeAll();

  const n = vms.length * perHost;
  console.log(JSON.stringify({ hosts: vms.length, resourcesPerHost: perHost, resources: n }));
  console.log(`cli up (create):                     ${tUp.toFixed(1)} s`);
  console.log(`cli preview, refresh: always:        ${tPrev.toFixed(1)} s`);
  console.log(`ssh handshakes per deployment:       ${[...perPid.values()].join(", ")} (hosts: ${vms.length})`);
  console.log(`${n} reads, serial (probe in diff):   ${tSerial.toFixed(2)} s`);
  console.log(`${n} reads, concurrent (refresh):     ${tConc.toFixed(2)} s`);
  console.log(`in-process handshakes:               ${handshakeCount()}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
