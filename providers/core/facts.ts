// Facts: everything a resource needs to know about a host, gathered by one script in one
// round trip. Each fact is a shell fragment; its output and exit code come back by name.
import type { Connection } from "./connection";
import { join, raw, sh, type Raw } from "./quote";
import { connected, type ExecResult, poolKey, run } from "./transport";

export interface Fact {
  rc: number;
  out: string;
}
export type Facts = Record<string, Fact>;

const BEGIN = "\x1ehosttune-fact ";
const END = "\x1ehosttune-rc ";

export function factScript(facts: Record<string, Raw>): Raw {
  return join(
    Object.entries(facts).map(
      ([name, cmd]) => sh`printf '\n\036hosttune-fact %s\n' ${name}; ( ${raw(cmd.text)}
) 2>&1; printf '\n\036hosttune-rc %s\n' "$?"`,
    ),
  );
}

export function parseFacts(stdout: string): Facts {
  const facts: Facts = {};
  for (const chunk of stdout.split("\n" + BEGIN).slice(1)) {
    const nl = chunk.indexOf("\n");
    const name = chunk.slice(0, nl);
    const body = chunk.slice(nl + 1);
    const end = body.lastIndexOf("\n" + END);
    if (end < 0) continue;
    facts[name] = { out: body.slice(0, end), rc: Number.parseInt(body.slice(end + 1 + END.length), 10) };
  }
  return facts;
}

/** A fact that must exist; a missing one means the probe script itself broke. */
export function fact(facts: Facts, name: string): Fact {
  const f = facts[name];
  if (!f) throw new Error(`probe returned no '${name}' fact (the probe script was cut short)`);
  return f;
}

interface Pending {
  facts: Record<string, Raw>;
  resolve(r: ExecResult & { facts: Facts }): void;
  reject(e: unknown): void;
}
const pending = new Map<string, Pending[]>();
// Well below one command line's limit (transport's MAX_SCRIPT), quoting included.
const BATCH_BYTES = 48 * 1024;
// A batch stays open until no read has joined it for QUIET_MS (at most OPEN_MS): a refresh
// hands out a host's reads over a few milliseconds, and each extra batch is a shell of its own.
const QUIET_MS = 50;
const OPEN_MS = 1000;

/**
 * Runs facts on the host and returns them parsed. Reads of one host that arrive together share
 * one script on one channel: a refresh reads every resource of a host at once, and one shell per
 * host rather than one per resource is most of what separates a fleet's preview from a plain ssh
 * loop. A batch forms while the host's connection comes up, then until reads stop arriving.
 */
export function readFacts(c: Connection, facts: Record<string, Raw>): Promise<ExecResult & { facts: Facts }> {
  const key = poolKey(c);
  return new Promise((resolve, reject) => {
    let queue = pending.get(key);
    if (!queue) {
      pending.set(key, (queue = []));
      void connected(c)
        .then(() => quiet(queue!))
        .then(() => {
          pending.delete(key);
          return flush(c, queue!);
        });
    }
    queue.push({ facts, resolve, reject });
  });
}

/** Resolves once the queue has not grown for QUIET_MS, or OPEN_MS after it is called. */
function quiet(queue: unknown[]): Promise<void> {
  const until = Date.now() + OPEN_MS;
  return new Promise((resolve) => {
    let seen = -1;
    const check = () => {
      if (queue.length === seen || Date.now() >= until) return resolve();
      seen = queue.length;
      setTimeout(check, QUIET_MS);
    };
    setImmediate(check);
  });
}

/**
 * Every fact side by side on the host, as separate channels would run them (a fact that waits
 * does not hold up the others), their outputs in order; one after another where no temporary
 * folder can be made. Each fact costs one process: its markers are written by the shell itself
 * and its exit code comes from `wait` (on a host where a fork costs milliseconds, the processes
 * of a fleet's reads are most of its cost).
 */
export function concurrently(facts: Record<string, Raw>): Raw {
  const entries = Object.entries(facts);
  const out = (i: number) => raw(`"$d/${i}"`);
  return sh`if d=$(mktemp -d 2>/dev/null); then
trap 'rm -rf "$d"' EXIT
${join(
  entries.map(
    ([name, cmd], i) => sh`printf '\n\036hosttune-fact %s\n' ${name} >${out(i)}; ( ${raw(cmd.text)}
) >>${out(i)} 2>&1 & p${raw(String(i))}=$!`,
  ),
)}
${join(entries.map((_, i) => sh`wait $p${raw(String(i))}; printf '\n\036hosttune-rc %s\n' "$?" >>${out(i)}`))}
cat ${entries.map((_, i) => out(i))}
else
${factScript(facts)}
fi`;
}

async function flush(c: Connection, batch: Pending[]): Promise<void> {
  const chunks: { items: Pending[]; facts: Record<string, Raw>; bytes: number }[] = [];
  batch.forEach((p, i) => {
    const own = Object.fromEntries(Object.entries(p.facts).map(([n, f]) => [`${i}.${n}`, f]));
    // Twice: each fact is there once to run side by side and once in the fallback.
    const bytes = 2 * factScript(own).text.length;
    const last = chunks.at(-1);
    if (last && last.bytes + bytes < BATCH_BYTES) {
      last.items.push(p);
      Object.assign(last.facts, own);
      last.bytes += bytes;
    } else chunks.push({ items: [p], facts: own, bytes });
  });
  await Promise.all(
    chunks.map(async ({ items, facts }) => {
      try {
        // One resource's facts: in order (side by side would cost three more processes).
        const r = await run(c, items.length > 1 ? concurrently(facts) : factScript(facts));
        const all = parseFacts(r.stdout);
        for (const p of items) {
          const i = batch.indexOf(p);
          const own = Object.entries(all).filter(([n]) => n.startsWith(`${i}.`));
          p.resolve({ ...r, facts: Object.fromEntries(own.map(([n, f]) => [n.slice(`${i}.`.length), f])) });
        }
      } catch (e) {
        for (const p of items) p.reject(e);
      }
    }),
  );
}
