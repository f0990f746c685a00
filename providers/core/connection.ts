// Connection inputs, in @pulumi/command's `remote.Connection` shape (host, port, user,
// password, privateKey, privateKeyPassword, agentSocketPath, dialErrorLimit, perDialTimeout)
// plus what hosttune adds to make host-key checking and sudo explicit.
import { homedir } from "node:os";
import { z } from "zod";
import { notOption } from "./names";

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

export const connectionSchema = z
  .object({
    host: z
      .string()
      .min(1, "is required")
      .regex(/^[A-Za-z0-9.:_-]+$/, "must be a host name or IP address")
      .refine(...notOption),
    port: z.number().int().min(1).max(65535).default(22),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}\$?$/, "must be a Unix user name")
      .default("root"),
    password: z.string().optional(),
    privateKey: z.string().optional(),
    /** A private key file on the machine running pulumi, read there: the key never enters Pulumi. */
    privateKeyPath: z.string().optional(),
    privateKeyPassword: z.string().optional(),
    agentSocketPath: z.string().optional(),
    dialErrorLimit: z.number().int().min(1).max(100).default(3),
    perDialTimeout: z.number().int().min(1).max(600).default(20),
    /**
     * Seconds a change's commands may run on the host (default 300): past it they are killed
     * there and the change is rolled back. A slow host is a normal host: be generous.
     */
    commandTimeout: z.number().int().min(1).max(86_400).optional(),
    /** Pinned host key, as in known_hosts or a .pub file: "ssh-ed25519 AAAA...". */
    hostKey: z
      .string()
      .regex(/^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+( .*)?$/, "must be an OpenSSH public key line")
      .optional(),
    /** known_hosts file to verify against when no hostKey is pinned. */
    knownHostsFile: z.string().optional(),
    /** Password for sudo when user is not root; without it sudo must not ask (NOPASSWD). */
    sudoPassword: z.string().optional(),
    /**
     * Names of environment variables (of the process running pulumi) holding the password,
     * the private key's passphrase or the sudo password: read there, they never enter Pulumi.
     */
    passwordEnv: envName.optional(),
    privateKeyPasswordEnv: envName.optional(),
    sudoPasswordEnv: envName.optional(),
  })
  .strict()
  .refine((c) => c.password || c.passwordEnv || c.privateKey || c.privateKeyPath || c.agentSocketPath, {
    message: "needs one of password, passwordEnv, privateKey, privateKeyPath or agentSocketPath",
  });

export type Connection = z.infer<typeof connectionSchema>;

/** Names the target in errors and ids: user@host:port. */
export function target(c: Pick<Connection, "user" | "host" | "port">): string {
  return `${c.user}@${c.host}:${c.port}`;
}

/** A local path with `~/` meaning the home directory of the user running pulumi. */
export function expandHome(path: string, home = homedir()): string {
  return path.startsWith("~/") ? home + path.slice(1) : path;
}
