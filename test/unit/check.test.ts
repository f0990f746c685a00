// `check` is local (no SSH) and names the field that is wrong.
import { describe, expect, it } from "vitest";
import { provider } from "../../providers/registry";

const connection = {
  host: "127.0.0.1",
  port: 2222,
  user: "root",
  privateKey: "k",
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG",
};
const check = (desired: unknown, conn: unknown = connection) =>
  provider("DefaultQdisc").check({} as never, { connection: conn, desired });

describe("check", () => {
  it("accepts good input and fills defaults", async () => {
    const r = await check({ qdisc: "noqueue" });
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toMatchObject({
      connection: { dialErrorLimit: 3 },
      desired: { fileName: "90-hosttune-default-qdisc.conf" },
    });
  });

  it.each([
    [{ qdisc: "bogus" }, "desired.qdisc", /must be one of/],
    [{ qdisc: "fq", fileName: "../evil.conf" }, "desired.fileName", /plain file name/],
    [{ qdisc: "fq", fileName: "a/b.conf" }, "desired.fileName", /plain file name/],
    [{ qdisc: "fq", fileName: "x..conf" }, "desired.fileName", /'\.\.'/],
    [{ qdisc: "fq", fileName: "90-x.txt" }, "desired.fileName", /ending in \.conf/],
    [{ qdisc: "fq", reapplyTo: "tap*; reboot" }, "desired.reapplyTo", /glob/],
    [{ qdisc: "fq", extra: 1 }, "desired", /Unrecognized key/],
  ])("rejects %j at %s", async (desired, property, reason) => {
    const r = await check(desired);
    expect(r.failures?.[0]?.property).toBe(property);
    expect(r.failures?.[0]?.reason).toMatch(reason);
  });

  it("rejects a connection without credentials or with a bad host", async () => {
    expect((await check({ qdisc: "fq" }, { host: "h" })).failures?.[0]).toMatchObject({
      property: "connection",
      reason: expect.stringMatching(/password, passwordEnv, privateKey, privateKeyPath or agentSocketPath/),
    });
    expect((await check({ qdisc: "fq" }, { ...connection, host: "a b" })).failures?.[0]?.property).toBe(
      "connection.host",
    );
    expect((await check({ qdisc: "fq" }, { ...connection, hostKey: "not a key" })).failures?.[0]?.property).toBe(
      "connection.hostKey",
    );
  });
});
