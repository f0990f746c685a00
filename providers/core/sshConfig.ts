// Hosts from an OpenSSH client config (~/.ssh/config): HostName, Port, User, IdentityFile and
// ProxyJump of a Host alias, computed by the `ssh-config` library as ssh would (first value
// wins, Host and Match blocks). `Match exec` is never run: reading a config must not run
// commands. Include is not followed by the library, so an alias that no Host block names is
// an error rather than a guess.
import { existsSync, readFileSync, statSync } from "node:fs";
import SSHConfig, { glob, type Line } from "ssh-config";
import { expandHome } from "./connection";

export interface SshConfigHop {
  host: string;
  port?: number;
  user?: string;
  /** The first IdentityFile that exists. */
  privateKeyPath?: string;
}

/** %h (the alias) and %% are expanded, like ssh; other tokens are refused rather than guessed. */
function tokens(value: string, alias: string, directive: string): string {
  return value.replace(/%(.)/g, (_, t: string) => {
    if (t === "h") return alias;
    if (t === "%") return "%";
    throw new Error(`${directive} ${value}: the token %${t} is not supported (only %h and %%)`);
  });
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A Host line whose patterns, other than the catch-all `*`, match the alias. */
function namesHost(l: Line, alias: string): boolean {
  if (l.type !== SSHConfig.DIRECTIVE || !/^host$/i.test(l.param)) return false;
  const patterns = (Array.isArray(l.value) ? l.value.map((v) => v.val) : [l.value]).filter((p) => p !== "*");
  return patterns.length > 0 && glob(patterns, alias);
}

/** What the config says for one alias; its ProxyJump as written (followed by `sshConfigFor`). */
function lookup(config: SSHConfig, alias: string, file: string): SshConfigHop & { proxyJump?: string } {
  if (!config.some((l) => namesHost(l, alias)))
    throw new Error(`no Host block in ${file} names ${alias} (Include is not followed: name it in ${file} itself)`);
  const found = config.compute(alias, { ignoreCase: true, matchExec: false });
  const hostName = one(found.hostname);
  const port = one(found.port);
  if (port !== undefined && !/^\d+$/.test(port)) throw new Error(`Port ${port} for ${alias} is not a number`);
  const identities = ([] as string[])
    .concat(found.identityfile ?? [])
    .map((f) => expandHome(tokens(f, alias, "IdentityFile")));
  const privateKeyPath = identities.find((f) => existsSync(f));
  if (identities.length && !privateKeyPath)
    throw new Error(`no IdentityFile for ${alias} exists here: ${identities.join(", ")}`);
  return {
    host: hostName === undefined ? alias : tokens(hostName, alias, "HostName"),
    port: port === undefined ? undefined : Number(port),
    user: one(found.user),
    privateKeyPath,
    proxyJump: one(found.proxyjump),
  };
}

/** `[ssh://][user@]host[:port]`, with `[addr]` for an IPv6 address. */
function parseJump(spec: string): { host: string; user?: string; port?: number } {
  const m = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new Error(`ProxyJump ${spec} is not [user@]host[:port]`);
  return { user: m[1], host: m[2].replace(/^\[(.*)\]$/, "$1"), port: m[3] === undefined ? undefined : Number(m[3]) };
}

const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const parsed = new Map<string, { stamp: string; config: SSHConfig }>();

/** The file parsed once per version of it: check, diff and create each resolve every resource's connection. */
function parseSshConfig(file: string): SSHConfig {
  const st = statSync(file);
  const stamp = `${st.mtimeMs} ${st.size} ${st.ino}`;
  const hit = parsed.get(file);
  if (hit?.stamp === stamp) return hit.config;
  const config = SSHConfig.parse(readFileSync(file, "utf8"));
  parsed.set(file, { stamp, config });
  return config;
}

/**
 * The target `alias` as `file` describes it, and its ProxyJump as the bastion (itself looked up
 * in the same file, as ssh does). One jump only: a chain is refused with the fix.
 */
export function sshConfigFor(path: string, alias: string): SshConfigHop & { proxy?: SshConfigHop } {
  const file = expandHome(path);
  let config: SSHConfig;
  try {
    config = parseSshConfig(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  const { proxyJump, ...target } = lookup(config, alias, file);
  if (proxyJump === undefined || proxyJump.toLowerCase() === "none") return defined(target) as SshConfigHop;
  const hops = proxyJump.split(",");
  if (hops.length > 1)
    throw new Error(
      `ProxyJump ${proxyJump} for ${alias} in ${file} is a chain of ${hops.length} jumps; hosttune goes ` +
        "through one bastion: give connection.proxy, or jump through one host",
    );
  const jump = parseJump(hops[0]);
  const { proxyJump: next, ...viaConfig } = config.some((l) => namesHost(l, jump.host))
    ? lookup(config, jump.host, file)
    : { host: jump.host };
  if (next !== undefined && next.toLowerCase() !== "none")
    throw new Error(
      `the bastion ${jump.host} of ${alias} has a ProxyJump of its own (${next}) in ${file}: a chain of jumps; hosttune goes through one bastion`,
    );
  // The user and port ProxyJump gives win over the bastion's Host block, as in ssh.
  const proxy = { ...defined(viaConfig), ...defined({ user: jump.user, port: jump.port }) } as SshConfigHop;
  return { ...(defined(target) as SshConfigHop), proxy };
}
