// Credentials never travel through Pulumi's engine: the engine logs resource inputs in plain
// text at high verbosity (-v=9), whatever is marked secret. The program hands each password or
// key to the provider through a private file on the machine running `pulumi` (0600, in a 0700
// folder of the user's cache), and the inputs, the state and the engine's logs carry only a
// reference to it: a keyed hash, useless without this machine's handoff key.
import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type Connection, expandHome } from "./connection";

export const CREDENTIAL_FIELDS = ["password", "privateKey", "privateKeyPassword", "sudoPassword"] as const;
const PREFIX = "hosttune-credential:";

function dir(): string {
  const d = join(process.env.HOSTTUNE_CACHE ?? join(homedir(), ".cache", "hosttune"), "credentials");
  mkdirSync(d, { recursive: true, mode: 0o700 });
  chmodSync(d, 0o700);
  return d;
}

function handoffKey(d: string): Buffer {
  const file = join(d, "handoff.key");
  try {
    return readFileSync(file);
  } catch {
    writeFileSync(file, randomBytes(32), { mode: 0o600, flag: "wx" });
    return readFileSync(file);
  }
}

/** In the program: keeps the value in the handoff folder; returns the reference to pass instead. */
export function handOff(value: string): string {
  const d = dir();
  const ref = createHmac("sha256", handoffKey(d)).update(value).digest("hex").slice(0, 32);
  writeFileSync(join(d, ref), value, { mode: 0o600 });
  return PREFIX + ref;
}

export function isReference(value: unknown): boolean {
  return typeof value === "string" && value.startsWith(PREFIX);
}

/** In the provider: the value behind a reference (values given as they are pass through). */
export function resolveCredential(field: string, value: string): string {
  if (!isReference(value)) return value;
  const ref = value.slice(PREFIX.length);
  if (!/^[0-9a-f]{32}$/.test(ref)) throw new Error(`${field} is not a valid credential reference`);
  try {
    return readFileSync(join(dir(), ref), "utf8");
  } catch {
    throw new Error(
      `${field} was handed over on another machine (credentials are kept out of ` +
        "Pulumi's engine and state): run `pulumi up` here so the program hands it over again",
    );
  }
}

const FROM_ENV = {
  passwordEnv: "password",
  privateKeyPasswordEnv: "privateKeyPassword",
  sudoPasswordEnv: "sudoPassword",
} as const;

/**
 * The connection (and its bastion's) with every credential reference replaced by its value:
 * handed-over values, the environment variables named by *Env fields, and privateKeyPath read.
 * `at` names the connection in errors.
 */
export function withCredentials(c: Connection, at = "connection"): Connection {
  const out = { ...c };
  for (const f of CREDENTIAL_FIELDS) if (out[f] !== undefined) out[f] = resolveCredential(`${at}.${f}`, out[f]!);
  if (out.proxy) out.proxy = withCredentials(out.proxy, `${at}.proxy`);
  for (const [ref, f] of Object.entries(FROM_ENV) as [
    keyof typeof FROM_ENV,
    (typeof FROM_ENV)[keyof typeof FROM_ENV],
  ][]) {
    const name = out[ref];
    if (name === undefined || out[f] !== undefined) continue;
    const value = process.env[name];
    if (value === undefined) throw new Error(`${at}.${ref}: ${name} is not set in the environment of pulumi`);
    out[f] = value;
  }
  if (out.privateKeyPath && out.privateKey === undefined) {
    const path = expandHome(out.privateKeyPath);
    try {
      out.privateKey = readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`${at}.privateKeyPath ${path} cannot be read here: ${(e as Error).message}`);
    }
  }
  return out;
}
