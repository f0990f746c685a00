// The hosttune program: every host in the stack's fleet gets the stack's tuning.
import * as pulumi from "@pulumi/pulumi";
import { parseFleet, readPrivateKey, tuningFor } from "./fleet";
import { DefaultQdisc } from "./providers";

export default async function program(): Promise<Record<string, unknown>> {
  const cfg = new pulumi.Config("hosttune");
  const fleet = parseFleet({
    hosts: cfg.requireObject("hosts"),
    tuning: cfg.getObject("tuning"),
    privateKeyPath: cfg.get("privateKeyPath"),
  });
  const fileKey = readPrivateKey(fleet);
  const privateKey = cfg.getSecret("privateKey") ?? (fileKey ? pulumi.secret(fileKey) : undefined);
  const password = cfg.getSecret("password");
  const sudoPassword = cfg.getSecret("sudoPassword");

  const hosts: Record<string, unknown> = {};
  for (const h of fleet.hosts) {
    const connection = { host: h.host, port: h.port, user: h.user, hostKey: h.hostKey, knownHostsFile: h.knownHostsFile, privateKey, password, sudoPassword };
    const tuning = tuningFor(fleet, h);
    const out: Record<string, unknown> = {};
    if (tuning.defaultQdisc) {
      const q = new DefaultQdisc(`${h.name}-default-qdisc`, { connection, ...tuning.defaultQdisc });
      out.defaultQdisc = q.observed;
    }
    hosts[h.name] = out;
  }
  return { hosts };
}
