// Host-key checking: a pinned key, or the keys a known_hosts file lists for host:port
// (plain, wildcard and hashed entries; "[host]:port" form for ports other than 22; @revoked).
import { createHash, createHmac } from "node:crypto";
import { homedir } from "node:os";
import { expandHome } from "./connection";

export interface PublicKey {
  type: string;
  blob: Buffer;
}

export function parseKeyLine(line: string): PublicKey {
  const [type, b64] = line.trim().split(/\s+/);
  return { type, blob: Buffer.from(b64 ?? "", "base64") };
}

export function fingerprint(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

function hostPatterns(host: string, port: number): string[] {
  return port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
}

/** known_hosts patterns: `*` and `?` wildcards (`@revoked * ...` revokes a key for every host). */
function patternMatches(pattern: string, wanted: string[]): boolean {
  const re = new RegExp(
    "^" +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".") +
      "$",
  );
  return wanted.some((w) => re.test(w));
}

function matchesHost(field: string, host: string, port: number): boolean {
  const wanted = hostPatterns(host, port);
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    return wanted.some((w) => createHmac("sha1", Buffer.from(salt, "base64")).update(w).digest("base64") === hash);
  }
  const names = field.split(",");
  if (names.some((n) => n.startsWith("!") && patternMatches(n.slice(1), wanted))) return false;
  return names.some((n) => !n.startsWith("!") && patternMatches(n, wanted));
}

/**
 * Keys known_hosts text lists for host:port. A key on a @revoked line is never trusted, even
 * where another line lists it; @cert-authority lines are not used.
 */
export function knownKeys(text: string, host: string, port: number): { trusted: PublicKey[]; revoked: PublicKey[] } {
  const trusted: PublicKey[] = [];
  const revoked: PublicKey[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith("@") ? fields.shift() : undefined;
    const [hosts, type, b64] = fields;
    if ((marker && marker !== "@revoked") || !type || !b64 || !matchesHost(hosts, host, port)) continue;
    (marker ? revoked : trusted).push(parseKeyLine(`${type} ${b64}`));
  }
  return { trusted: trusted.filter((k) => !revoked.some((r) => r.blob.equals(k.blob))), revoked };
}

/** The known_hosts file to read, with `~/` expanded (ssh's default: ~/.ssh/known_hosts). */
export function knownHostsPath(file: string | undefined, home = homedir()): string {
  return expandHome(file ?? "~/.ssh/known_hosts", home);
}

/**
 * Host-key algorithms to negotiate for these keys. An RSA key signs with rsa-sha2-512/256
 * too; OpenSSH >= 8.8 no longer accepts ssh-rsa (SHA-1) signatures by default.
 */
export function hostKeyAlgorithms(keys: PublicKey[]): string[] {
  const rsa = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [...new Set(keys.flatMap((k) => (k.type === "ssh-rsa" ? rsa : [k.type])))];
}
