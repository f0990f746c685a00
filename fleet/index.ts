// The stack's description of the fleet and its tuning (stack config, zod-validated): hosts,
// credentials, the tuning every host gets, groups of hosts with tuning of their own, per-host
// overrides, and the rollout in waves.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { connectionObject, proxySchema } from "../providers/core/connection";
import { sshConfigFor } from "../providers/core/sshConfig";
import { layerSchema, type Placed, resolveTuning } from "./groups";
import { rolloutSchema } from "./rollout";

export { waves } from "./rollout";

const groupName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, "must be a group name (A-Z a-z 0-9 _ . -)");

/**
 * A bastion in stack config: key material stays in the stack's secrets (hosttune:privateKey,
 * password), which the bastion uses when it has no credentials of its own; references
 * (privateKeyPath, agentSocketPath, *Env) may be its own.
 */
const fleetProxy = proxySchema.omit({ password: true, privateKey: true, privateKeyPassword: true });
const { sshConfig } = connectionObject.shape;

const hostSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be a short lowercase name (used in resource names)"),
    host: z.string().min(1),
    // No defaults (the provider's are 22 and root): a field left out may come from the ssh config.
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().optional(),
    hostKey: z.string().optional(),
    knownHostsFile: z.string().optional(),
    /** Over the stack's; `null`: this host is reached directly. */
    proxy: fleetProxy.nullable().optional(),
    sshConfig: sshConfig.unwrap().nullable().optional(),
    /** Groups whose tuning this host gets, merged in this order over the stack's. */
    groups: z.array(groupName).default([]),
    /** The host's own tuning, merged last. */
    tuning: layerSchema.default({}),
  })
  .strict();

const groupSchema = z.object({ tuning: layerSchema.default({}) }).strict();

const fleetObject = z
  .object({
    hosts: z.array(hostSchema).min(1, "needs at least one host"),
    groups: z.record(groupName, groupSchema).default({}),
    tuning: layerSchema.default({}),
    rollout: rolloutSchema.optional(),
    /** The bastion every host is reached through, unless it gives its own or `proxy: null`. */
    proxy: fleetProxy.optional(),
    /** Every host's `host` is an alias in this ssh config, unless it says `sshConfig: null`. */
    sshConfig,
    /** A file holding the SSH private key (the lab's), read by the provider where pulumi runs. */
    privateKeyPath: z.string().optional(),
    /** Environment variables holding the SSH password and the sudo password, read where pulumi runs. */
    passwordEnv: z.string().optional(),
    sudoPasswordEnv: z.string().optional(),
    /** Seconds a change's commands may run on a host before they are killed and rolled back (300). */
    commandTimeout: z.number().int().min(1).max(86_400).optional(),
  })
  .strict();

/** A host's layers in merge order, each with its config path (for error messages). */
function layersOf(f: z.output<typeof fleetObject>, i: number): Placed[] {
  const h = f.hosts[i];
  return [
    { at: ["tuning"], layer: f.tuning },
    ...h.groups.map((g) => ({ at: ["groups", g, "tuning"], layer: f.groups[g].tuning })),
    { at: ["hosts", i, "tuning"], layer: h.tuning },
  ];
}

const listed = (names: string[]) =>
  names.length > 5 ? `${names.slice(0, 5).join(", ")} and ${names.length - 5} more` : names.join(", ");

/**
 * Each host's ssh config lookup, tried here so that a problem is reported once, where it was
 * written (a host's own sshConfig, or the stack's, naming the hosts it fails for), before any
 * resource is checked. The provider's check resolves it again, for the state.
 */
function sshConfigProblems(f: z.output<typeof fleetObject>): { path: (string | number)[]; message: string }[] {
  const fromStack = new Map<string, string[]>();
  const own: { path: (string | number)[]; message: string }[] = [];
  f.hosts.forEach((h, i) => {
    const file = h.sshConfig === null ? undefined : (h.sshConfig ?? f.sshConfig);
    if (file === undefined) return;
    try {
      sshConfigFor(file === true ? "~/.ssh/config" : file, h.host);
    } catch (e) {
      const message = (e as Error).message;
      if (h.sshConfig !== undefined) own.push({ path: ["hosts", i, "sshConfig"], message });
      else fromStack.set(message, [...(fromStack.get(message) ?? []), h.name]);
    }
  });
  return [
    ...own,
    ...[...fromStack].map(([message, hosts]) => ({
      path: ["sshConfig"],
      message: hosts.length === f.hosts.length ? message : `${message} (for ${listed(hosts)})`,
    })),
  ];
}

export const fleetSchema = fleetObject
  .superRefine((f, ctx) => {
    const names = new Set<string>();
    f.hosts.forEach((h, i) => {
      if (names.has(h.name))
        ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host name ${h.name}` });
      names.add(h.name);
    });
    sshConfigProblems(f).forEach((issue) => ctx.addIssue({ code: "custom", ...issue }));
    f.rollout?.canary.forEach((n, j) => {
      if (!names.has(n)) ctx.addIssue({ code: "custom", path: ["rollout", "canary", j], message: `unknown host ${n}` });
    });
    // Each problem once, where it was written (an unknown group where it is first listed), with
    // the hosts it concerns unless that is all of them.
    const unknownGroups = new Map<string, { path: (string | number)[]; hosts: string[] }>();
    const problems = new Map<string, { path: (string | number)[]; message: string; hosts: string[] }>();
    f.hosts.forEach((h, i) => {
      const unknown = h.groups.filter((g) => !Object.hasOwn(f.groups, g));
      for (const g of unknown) {
        const u = unknownGroups.get(g) ?? { path: ["hosts", i, "groups", h.groups.indexOf(g)], hosts: [] };
        u.hosts.push(h.name);
        unknownGroups.set(g, u);
      }
      if (unknown.length) return;
      for (const { path, message } of resolveTuning(layersOf(f, i)).problems) {
        const key = `${path.join(".")}\0${message}`;
        const p = problems.get(key) ?? { path, message, hosts: [] };
        p.hosts.push(h.name);
        problems.set(key, p);
      }
    });
    for (const [g, { path, hosts }] of unknownGroups)
      ctx.addIssue({
        code: "custom",
        path,
        message:
          `unknown group ${g} (hosttune:groups has ${Object.keys(f.groups).join(", ") || "none"})` +
          (hosts.length > 1 ? `; hosts ${listed(hosts)} list it` : ""),
      });
    for (const { path, message, hosts } of problems.values())
      ctx.addIssue({
        code: "custom",
        path,
        message:
          path[0] === "hosts" || hosts.length === f.hosts.length
            ? message
            : `${message} (in the tuning of ${hosts.length > 1 ? "hosts" : "host"} ${listed(hosts)})`,
      });
  })
  // Each host with its merged tuning, checked above: what its HostTuning gets.
  .transform((f) => ({
    ...f,
    hosts: f.hosts.map((h, i) => ({
      ...h,
      proxy: h.proxy === null ? undefined : (h.proxy ?? f.proxy),
      sshConfig: h.sshConfig === null ? undefined : (h.sshConfig ?? f.sshConfig),
      tuning: resolveTuning(layersOf(f, i)).tuning!,
    })),
  }));

export type Fleet = z.output<typeof fleetSchema>;
export type FleetHost = Fleet["hosts"][number];

export function parseFleet(raw: unknown): Fleet {
  const r = fleetSchema.safeParse(raw);
  // A RunError is reported once, without a stack trace: the list is the whole message.
  if (!r.success)
    throw new pulumi.RunError(
      `invalid hosttune stack config:\n${r.error.issues.map((i) => `  hosttune:${i.path.join(".")}: ${i.message}`).join("\n")}`,
    );
  return r.data;
}

/** What the fleet is read from: the program's pulumi.Config, or `pulumi config --json` for a report. */
export interface ConfigReader {
  getObject<T>(key: string): T | undefined;
  get(key: string): string | undefined;
  getNumber(key: string): number | undefined;
}

/** The stack config's fleet, validated (a RunError listing every problem). */
export function fleetFromConfig(cfg: ConfigReader): Fleet {
  return parseFleet({
    hosts: cfg.getObject("hosts"),
    groups: cfg.getObject("groups"),
    tuning: cfg.getObject("tuning"),
    rollout: cfg.getObject("rollout"),
    proxy: cfg.getObject("proxy"),
    // `true` or a path: config values are strings.
    sshConfig: cfg.get("sshConfig") === "true" ? true : cfg.get("sshConfig"),
    privateKeyPath: cfg.get("privateKeyPath"),
    passwordEnv: cfg.get("passwordEnv"),
    sudoPasswordEnv: cfg.get("sudoPasswordEnv"),
    commandTimeout: cfg.getNumber("commandTimeout"),
  });
}

/** The stack's secrets a host's connection may use: Outputs in the program, strings in a report. */
export interface FleetSecrets<S> {
  privateKey?: S;
  password?: S;
  sudoPassword?: S;
}

/** A host's connection, as its resources take it. */
export function hostConnection<S>(fleet: Fleet, h: Fleet["hosts"][number], secrets: FleetSecrets<S>) {
  const { host, port, user, hostKey, knownHostsFile, proxy, sshConfig } = h;
  const { privateKeyPath, passwordEnv, sudoPasswordEnv, commandTimeout } = fleet;
  return {
    host,
    port,
    user,
    hostKey,
    knownHostsFile,
    proxy,
    sshConfig,
    privateKeyPath,
    passwordEnv,
    sudoPasswordEnv,
    commandTimeout,
    ...secrets,
  };
}
