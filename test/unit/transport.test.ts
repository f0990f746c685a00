// The SSH transport against a real OpenSSH sshd on 127.0.0.1.
import { execFileSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sh } from "../../providers/core/quote";
import { closeAll, handshakeCount, run } from "../../providers/core/transport";
import { type Sshd, startSshd } from "./sshd";

/** TCP connections established to the sshd's port (ours, from this process). */
function established(port: number): number {
  return execFileSync("ss", ["-Htn", "state", "established", `( dport = :${port} )`], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean).length;
}

async function eventually(fn: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
    if (fn()) return true;
  return fn();
}

describe("transport (real sshd)", () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(() => sshd?.stop());
  afterEach(() => {
    closeAll();
    delete process.env.HOSTTUNE_SSH_LOG;
  });

  it("a HOSTTUNE_SSH_LOG that cannot be appended to neither fails the connection nor leaks one", async () => {
    process.env.HOSTTUNE_SSH_LOG = "no-such-dir/ssh.jsonl";
    const before = handshakeCount();
    const r = await run(sshd.connection, sh`echo ok`);
    expect(r).toMatchObject({ code: 0, stdout: "ok\n" });
    await run(sshd.connection, sh`true`);
    expect(handshakeCount() - before).toBe(1);
    closeAll();
    expect(await eventually(() => established(sshd.port) === 0)).toBe(true);
  });
});
