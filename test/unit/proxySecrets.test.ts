// A bastion's credentials are kept out of the engine like the target's: under Pulumi's mocks,
// what a resource registers holds references, marked secret, never the values.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { expect, it } from "vitest";

it("the bastion's password and key reach the engine as secret references only", async () => {
  process.env.HOSTTUNE_CACHE = mkdtempSync(join(tmpdir(), "hosttune-cred-"));
  const registered: unknown[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        registered.push(a.inputs);
        return { id: `${a.name}-id`, state: a.inputs };
      },
      call: () => ({}),
    },
    "hosttune",
    "unit",
    false,
  );
  const { DefaultQdisc } = await import("../../lib");
  const secrets = { target: "target-pw", bastion: "bastion-pw", key: "BASTION KEY", passphrase: "bastion-pass" };
  const q = new DefaultQdisc("q", {
    connection: {
      host: "10.0.0.5",
      password: secrets.target,
      proxy: {
        host: "10.9.0.1",
        password: secrets.bastion,
        privateKey: secrets.key,
        privateKeyPassword: secrets.passphrase,
      },
    },
    qdisc: "fq",
  });
  const connection = await new Promise<{ proxy: Record<string, unknown> }>((r) =>
    q.connection.apply((c) => r(c as never)),
  );
  expect(await new Promise((r) => pulumi.isSecret(q.connection).then(r))).toBe(true);
  const text = JSON.stringify(registered);
  for (const s of Object.values(secrets)) expect(text).not.toContain(s);
  for (const f of ["password", "privateKey", "privateKeyPassword"])
    expect(connection.proxy[f]).toMatch(/^hosttune-credential:[0-9a-f]{32}$/);
});
