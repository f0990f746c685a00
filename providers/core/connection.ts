// Connection inputs, in @pulumi/command's `remote.Connection` shape (host, port, user,
// password, privateKey, privateKeyPassword, agentSocketPath, dialErrorLimit, perDialTimeout,
// proxy) plus what hosttune adds to make host-key checking and sudo explicit, and hosts taken
// from an OpenSSH client config (`sshConfig`).
import { homedir } from "node:os";
import { z } from "zod";
import { notOption } from "./names";
import { sshConfigFor } from "./sshConfig";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

/** What one SSH hop (the target, or the bastion in front of it) is dialled with. */
const hopFields = {
  host: z
    .string()
    .min(1, "is required")
    .regex(/^[A-Za-z0-9.:_-]+$/, "must be a host name or IP address")
    .refine(...notOption),
  // No defaults here: a field left out may still come from the ssh config (see `withDefaults`).
  port: z.number().int().min(1).max(65535).optional(),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}\$?$/, "must be a Unix user name")
    .optional(),
  password: z.string().optional(),
  privateKey: z.string().optional(),
  /** A private key file on the machine running pulumi, read there: the key never enters Pulumi. */
  privateKeyPath: z.string().optional(),
  privateKeyPassword: z.string().optional(),
  agentSocketPath: z.string().optional(),
  /**
   * Names of environment variables (of the process running pulumi) holding the password or the
   * private key's passphrase: read there, they never enter Pulumi.
   */
  passwordEnv: envName.optional(),
  privateKeyPasswordEnv: envName.optional(),
  dialErrorLimit: z.number().int().min(1).max(100).optional(),
  /** Seconds the host may stay silent while dialled (the whole dial: 4 times that at most). */
  perDialTimeout: z.number().int().min(1).max(600).optional(),
  /** Pinned host key, as in known_hosts or a .pub file: "ssh-ed25519 AAAA...". */
  hostKey: z
    .string()
    .regex(/^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+( .*)?$/, "must be an OpenSSH public key line")
    .optional(),
  /** known_hosts file to verify against when no hostKey is pinned. */
  knownHostsFile: z.string().optional(),
};

/**
 * The bastion (jump host) the target is reached through: its own host key is verified like the
 * target's. Without credentials of its own it uses the target's, and without a hostKey or
 * knownHostsFile of its own, the target's knownHostsFile.
 */
export const proxySchema = z.object(hopFields).strict();

export const connectionObject = z
  .object({
    ...hopFields,
    proxy: proxySchema.optional(),
    /**
     * Take HostName, Port, User, IdentityFile and ProxyJump for `host` (an alias) from this
     * OpenSSH client config (`true`: ~/.ssh/config), read where pulumi runs; fields given here win.
     */
    sshConfig: z.union([z.literal(true), z.string().min(1)]).optional(),
    /**
     * Seconds a change's commands may run on the host (default 300): past it they are killed
     * there and the change is rolled back. A slow host is a normal host: be generous.
     */
    commandTimeout: z.number().int().min(1).max(86_400).optional(),
    /** Password for sudo when user is not root; without it sudo must not ask (NOPASSWD). */
    sudoPassword: z.string().optional(),
    /** Name of an environment variable of the process running pulumi holding the sudo password. */
    sudoPasswordEnv: envName.optional(),
  })
  .strict();

type HopInput = z.output<typeof proxySchema>;
const LOGIN_FIELDS = [
  "password",
  "passwordEnv",
  "privateKey",
  "privateKeyPath",
  "agentSocketPath",
] as const satisfies readonly (keyof HopInput)[];
const LOGIN = [
  ...LOGIN_FIELDS,
  "privateKeyPassword",
  "privateKeyPasswordEnv",
] as const satisfies readonly (keyof HopInput)[];
const hasLogin = (h: HopInput) => LOGIN_FIELDS.some((f) => h[f] !== undefined);

type Dialled<H> = H & { port: number; user: string; dialErrorLimit: number; perDialTimeout: number };
function withDefaults<H extends HopInput>(h: H): Dialled<H> {
  return {
    ...h,
    port: h.port ?? 22,
    user: h.user ?? "root",
    dialErrorLimit: h.dialErrorLimit ?? 3,
    perDialTimeout: h.perDialTimeout ?? 20,
  };
}

/** The bastion with what it takes from the target when it has none of its own. */
function bastion(p: HopInput, c: HopInput): HopInput {
  const login = hasLogin(p) ? {} : Object.fromEntries(LOGIN.map((f) => [f, c[f]]).filter(([, v]) => v !== undefined));
  const trust = p.hostKey || p.knownHostsFile || !c.knownHostsFile ? {} : { knownHostsFile: c.knownHostsFile };
  return { ...p, ...login, ...trust };
}

const needsLogin = `needs one of ${LOGIN_FIELDS.slice(0, -1).join(", ")} or ${LOGIN_FIELDS.at(-1)}`;

export const connectionSchema = connectionObject.transform((raw, ctx) => {
  let c = raw;
  if (raw.sshConfig !== undefined) {
    const file = raw.sshConfig === true ? "~/.ssh/config" : raw.sshConfig;
    try {
      const found = sshConfigFor(file, raw.host);
      // `host` was the alias: the config's HostName (or the alias itself) is the address.
      const own = Object.fromEntries(Object.entries(raw).filter(([k, v]) => k !== "host" && v !== undefined));
      // An IdentityFile is a credential: any credential given here wins over it as a whole.
      const { privateKeyPath, proxy, ...where } = found;
      const merged = { ...where, ...(hasLogin(raw) ? {} : { privateKeyPath }), ...(proxy ? { proxy } : {}), ...own };
      c = connectionObject.parse(merged);
    } catch (e) {
      const message =
        e instanceof z.ZodError
          ? e.issues.map((i) => `${file} gives ${raw.host} a ${i.path.join(".")} that ${i.message}`).join("; ")
          : (e as Error).message;
      ctx.addIssue({ code: "custom", path: ["sshConfig"], message });
      return z.NEVER;
    }
  }
  if (!hasLogin(c)) ctx.addIssue({ code: "custom", path: [], message: needsLogin });
  const proxy = c.proxy && bastion(c.proxy, c);
  if (proxy && !hasLogin(proxy))
    ctx.addIssue({ code: "custom", path: ["proxy"], message: `${needsLogin} (its own or the target's)` });
  const { proxy: _, ...out } = withDefaults(c);
  return proxy ? { ...out, proxy: withDefaults(proxy) } : (out as typeof out & { proxy?: Dialled<HopInput> });
});

export type Connection = z.output<typeof connectionSchema>;
/** The bastion a connection goes through, as the transport dials it. */
export type Hop = NonNullable<Connection["proxy"]>;

/** Names one hop in errors: user@host:port. */
function hop(c: Pick<Hop, "user" | "host" | "port">): string {
  return `${c.user}@${c.host}:${c.port}`;
}

/** Names the target in errors and ids: user@host:port, and the bastion it is reached through. */
export function target(
  c: Pick<Hop, "user" | "host" | "port"> & { proxy?: Pick<Hop, "user" | "host" | "port"> },
): string {
  return c.proxy ? `${hop(c)} via ${hop(c.proxy)}` : hop(c);
}

/** A local path with `~/` meaning the home directory of the user running pulumi. */
export function expandHome(path: string, home = homedir()): string {
  return path.startsWith("~/") ? home + path.slice(1) : path;
}
