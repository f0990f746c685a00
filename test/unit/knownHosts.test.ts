import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  fingerprint,
  hostKeyAlgorithms,
  knownHostsPath,
  knownKeys,
  parseKeyLine,
} from "../../providers/core/knownHosts";

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
    expect(knownKeys(text, "127.0.0.1", 10022).trusted.map((k) => k.blob.toString("base64"))).toEqual([KEY]);
    expect(knownKeys(text, "10.0.0.1", 22).trusted.map((k) => k.blob.toString("base64"))).toEqual([OTHER]);
    expect(knownKeys(text, "::1", 2222).trusted).toHaveLength(1);
    expect(knownKeys(text, "127.0.0.1", 22).trusted).toEqual([]);
  });

  it("a key marked @revoked is not trusted, even where another line trusts it", () => {
    const text = [
      `[127.0.0.1]:10022 ssh-ed25519 ${KEY}`,
      `[127.0.0.1]:10022 ssh-ed25519 ${OTHER}`,
      `@revoked * ssh-ed25519 ${KEY}`,
    ].join("\n");
    const { trusted, revoked } = knownKeys(text, "127.0.0.1", 10022);
    expect(trusted.map((k) => k.blob.toString("base64"))).toEqual([OTHER]);
    expect(revoked.map((k) => k.blob.toString("base64"))).toEqual([KEY]);
  });

  it("expands ~/ in the known_hosts path", () => {
    expect(knownHostsPath("~/kh/known_hosts", "/home/op")).toBe("/home/op/kh/known_hosts");
    expect(knownHostsPath(undefined, "/home/op")).toBe("/home/op/.ssh/known_hosts");
    expect(knownHostsPath("/etc/ssh/ssh_known_hosts", "/home/op")).toBe("/etc/ssh/ssh_known_hosts");
  });

  it("offers the SHA-2 signature algorithms for an RSA key (OpenSSH >= 8.8 refuses ssh-rsa)", () => {
    const rsa = parseKeyLine("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ");
    expect(hostKeyAlgorithms([rsa])).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    expect(hostKeyAlgorithms([parseKeyLine(`ssh-ed25519 ${KEY}`), rsa])).toEqual([
      "ssh-ed25519",
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
    ]);
  });

  it("fingerprints like ssh-keygen -l", () => {
    expect(fingerprint(parseKeyLine(`ssh-ed25519 ${KEY}`).blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
