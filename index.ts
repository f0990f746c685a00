// The hosttune program: every host in the stack's fleet gets the stack's tuning.
import * as pulumi from "@pulumi/pulumi";
import { parseFleet, readPrivateKey, tuningFor } from "./fleet";
import { BfqScheduler, DefaultQdisc, ManagementVrf, NicCoalescing, UdevRule, VrfBoundSystemdUnit } from "./providers";

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
    const connection = {
      host: h.host,
      port: h.port,
      user: h.user,
      hostKey: h.hostKey,
      knownHostsFile: h.knownHostsFile,
      privateKey,
      password,
      sudoPassword,
    };
    const tuning = tuningFor(fleet, h);
    const out: {
      defaultQdisc?: unknown;
      udevRules?: Record<string, unknown>;
      nicCoalescing?: Record<string, unknown>;
      bfqScheduler?: Record<string, unknown>;
      vrfBoundUnits?: Record<string, unknown>;
      managementVrf?: unknown;
    } = {};
    if (tuning.defaultQdisc) {
      const q = new DefaultQdisc(`${h.name}-default-qdisc`, { connection, ...tuning.defaultQdisc });
      out.defaultQdisc = q.observed;
    }
    for (const rule of tuning.udevRules ?? []) {
      const r = new UdevRule(`${h.name}-udev-${rule.fileName}`, { connection, ...rule });
      (out.udevRules ??= {})[rule.fileName] = r.observed.apply((o) => (o.file === null ? "absent" : "present"));
    }
    for (const c of tuning.nicCoalescing ?? []) {
      const selector = [c.interface ?? c.match, c.driver].filter(Boolean).join("@");
      const r = new NicCoalescing(`${h.name}-coalesce-${selector}`, { connection, ...c });
      (out.nicCoalescing ??= {})[selector] = r.observed.apply((o) => o.nics);
    }
    for (const b of tuning.bfqScheduler ?? []) {
      const r = new BfqScheduler(`${h.name}-bfq-${b.ruleFile}`, { connection, ...b });
      (out.bfqScheduler ??= {})[b.ruleFile] = r.observed.apply((o) =>
        Object.fromEntries(Object.entries(o.disks).map(([n, d]) => [n, d.scheduler])),
      );
    }
    const vrf =
      tuning.managementVrf &&
      new ManagementVrf(`${h.name}-vrf-${tuning.managementVrf.name}`, { connection, ...tuning.managementVrf });
    if (vrf) out.managementVrf = vrf.observed.apply((o) => ({ link: o.link, slaves: o.slaves }));
    for (const u of tuning.vrfBoundUnits ?? []) {
      // Taking the VRF's name from the ManagementVrf makes Pulumi create the VRF first.
      const vrfName = vrf && u.vrf === tuning.managementVrf?.name ? vrf.desired.apply((d) => d.name) : u.vrf;
      const r = new VrfBoundSystemdUnit(`${h.name}-vrf-unit-${u.unit}`, { connection, ...u, vrf: vrfName });
      (out.vrfBoundUnits ??= {})[u.unit] = r.observed.apply((o) => o.pidVrf || "default");
    }
    hosts[h.name] = out;
  }
  return { hosts };
}
