import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { fingerprint, knownKeys, parseKeyLine } from "../../providers/core/knownHosts";

const KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIMDA1im7zNJCLtByR+0XP9pBgIbbi3fFKgPiAsv8rYxm";
const OTHER = "AAAAC3NzaC1lZDI1NTE5AAAAIJXQQwVKy+tmQ0HYwVk1DUe/cWYcrrPBTHFyBJQt4gfF";

function hashed(host: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
}

describe("known_hosts", () => {
  it("matches plain, bracketed-port and hashed entries for the right host:port only", () => {
    const text = [
      "# comment",
      `[127.0.0.1]:10022 ssh-ed25519 ${KEY}`,
      `[127.0.0.1]:10023 ssh-ed25519 ${OTHER}`,
      `example.org,10.0.0.1 ssh-ed25519 ${OTHER}`,
      `${hashed("[::1]:2222")} ssh-ed25519 ${KEY}`,
      `@revoked [127.0.0.1]:10022 ssh-ed25519 ${OTHER}`,
    ].join("\n");
    expect(knownKeys(text, "127.0.0.1", 10022).map((k) => k.blob.toString("base64"))).toEqual([KEY]);
    expect(knownKeys(text, "10.0.0.1", 22).map((k) => k.blob.toString("base64"))).toEqual([OTHER]);
    expect(knownKeys(text, "::1", 2222)).toHaveLength(1);
    expect(knownKeys(text, "127.0.0.1", 22)).toEqual([]);
  });

  it("fingerprints like ssh-keygen -l", () => {
    expect(fingerprint(parseKeyLine(`ssh-ed25519 ${KEY}`).blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
