// Host-key checking: a pinned key, or the keys a known_hosts file lists for host:port
// (plain and hashed entries; "[host]:port" form for ports other than 22).
import { createHash, createHmac } from "node:crypto";

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

function matchesHost(field: string, host: string, port: number): boolean {
  const wanted = hostPatterns(host, port);
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    return wanted.some((w) => createHmac("sha1", Buffer.from(salt, "base64")).update(w).digest("base64") === hash);
  }
  const names = field.split(",");
  if (names.some((n) => n.startsWith("!") && wanted.includes(n.slice(1)))) return false;
  return names.some((n) => wanted.includes(n));
}

/** Keys known_hosts text lists for host:port; @revoked and @cert-authority lines are not trusted. */
export function knownKeys(text: string, host: string, port: number): PublicKey[] {
  const keys: PublicKey[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("@")) continue;
    const [hosts, type, b64] = line.split(/\s+/);
    if (type && b64 && matchesHost(hosts, host, port)) keys.push(parseKeyLine(`${type} ${b64}`));
  }
  return keys;
}
