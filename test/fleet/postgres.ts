// A private PostgreSQL cluster for a test: Debian's server binaries, a data directory in a
// fresh temp folder, owned by the postgres user (the server refuses to run as root), listening
// on 127.0.0.1 only, on a free port, with its socket in its own folder and a password of its
// own. It never touches a system cluster; it is stopped by its pid.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./fleetStack";

export interface PgCluster {
  /** postgres://user:password@127.0.0.1:port/postgres?sslmode=disable (TLS is not set up). */
  url: string;
  /** Runs SQL with psql; returns its unaligned output. */
  sql(query: string): string;
  stop(): Promise<void>;
}

/** The newest installed server's bin folder (/usr/lib/postgresql/<major>/bin). */
function serverBin(): string {
  const root = "/usr/lib/postgresql";
  const majors = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (!majors.length) throw new Error(`no PostgreSQL server in ${root} (Debian package postgresql)`);
  return join(root, majors[0], "bin");
}

export async function startPostgres(): Promise<PgCluster> {
  const bin = serverBin();
  const dir = mkdtempSync(join(tmpdir(), "hosttune-pg-"));
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
  chownSync(dir, uid, gid);
  const password = randomBytes(18).toString("hex");
  writeFileSync(join(dir, "pwfile"), `${password}\n`);
  chownSync(join(dir, "pwfile"), uid, gid);
  // setpriv execs the command itself: the pid we hold is the server's.
  const asPostgres = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"];
  const data = join(dir, "data");
  execFileSync("setpriv", [
    ...asPostgres,
    join(bin, "initdb"),
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=scram-sha-256",
    `--pwfile=${join(dir, "pwfile")}`,
    "--no-sync",
  ]);
  const port = await freePort("127.0.0.1");
  const server: ChildProcess = spawn(
    "setpriv",
    [
      ...asPostgres,
      join(bin, "postgres"),
      "-D",
      data,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      `unix_socket_directories=${dir}`,
      // A test's state: losing it in a crash of this machine costs nothing.
      "-c",
      "fsync=off",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  server.stderr!.on("data", (b) => (log += b));
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres?sslmode=disable`;
  const sql = (query: string) =>
    execFileSync(join(bin, "psql"), [url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGINT"); // fast shutdown: ends the sessions, then the server
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      sql("SELECT 1");
      return { url, sql, stop };
    } catch (e) {
      if (server.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`PostgreSQL did not start: ${log.slice(-2000)} ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
