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

/**
 * Runs facts on the host and returns them parsed. Reads of one host that arrive together share
 * one script on one channel: a refresh reads every resource of a host at once, and one shell per
 * host rather than one per resource is most of what separates a fleet's preview from a plain ssh
 * loop. A batch forms while the host's connection comes up, plus one turn of the event loop.
 */
export function readFacts(c: Connection, facts: Record<string, Raw>): Promise<ExecResult & { facts: Facts }> {
  const key = poolKey(c);
  return new Promise((resolve, reject) => {
    let queue = pending.get(key);
    if (!queue) {
      pending.set(key, (queue = []));
      void connected(c)
        .then(() => new Promise((r) => setImmediate(r)))
        .then(() => {
          const batch = pending.get(key)!;
          pending.delete(key);
          return flush(c, batch);
        });
    }
    queue.push({ facts, resolve, reject });
  });
}

/**
 * The reads side by side on the host, as separate channels would run them (a probe that waits
 * on the host does not hold up the others), their outputs in order; one after another where no
 * temporary folder can be made.
 */
export function concurrently(parts: Raw[]): Raw {
  if (parts.length === 1) return parts[0];
  const outs = parts.map((_, i) => raw(`"$d/${i}"`));
  return sh`if d=$(mktemp -d 2>/dev/null); then
trap 'rm -rf "$d"' EXIT
${join(
  parts.map(
    (p, i) => sh`( ${p}
) >${outs[i]} 2>&1 &`,
  ),
)}
wait
cat ${outs}
else
${join(parts)}
fi`;
}

async function flush(c: Connection, batch: Pending[]): Promise<void> {
  const chunks: { items: Pending[]; parts: Raw[]; bytes: number }[] = [];
  batch.forEach((p, i) => {
    const script = factScript(Object.fromEntries(Object.entries(p.facts).map(([n, f]) => [`${i}.${n}`, f])));
    const last = chunks.at(-1);
    // Twice: the script is there once to run concurrently and once as the fallback.
    if (last && last.bytes + 2 * script.text.length < BATCH_BYTES) {
      last.items.push(p);
      last.parts.push(script);
      last.bytes += 2 * script.text.length;
    } else chunks.push({ items: [p], parts: [script], bytes: 2 * script.text.length });
  });
  await Promise.all(
    chunks.map(async ({ items, parts }) => {
      try {
        const r = await run(c, concurrently(parts));
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
