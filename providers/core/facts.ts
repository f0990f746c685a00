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

/**
 * A fact that runs in the script's own shell, as the body of a function: shell builtins only, so
 * it costs no process (on a host where a fork costs milliseconds, a fleet's reads are mostly
 * processes). Its exit code is its `return`; it never calls `exit`, `cd`, `set -e` or `trap`, and
 * its variables start with `ht_`. `readFile` and `slurp` are there for it.
 */
export interface InShell {
  readonly inShell: Raw;
}
export const inShell = (body: Raw): InShell => ({ inShell: body });
/** A fact: a shell fragment run in a subshell of its own (it may `exit`), or an InShell one. */
export type FactSource = (Raw | InShell) & { readonly settled?: true };
export type FactSources = Record<string, FactSource>;
const isInShell = (f: FactSource): f is InShell => "inShell" in f;

/**
 * A fact whose success, for the same script on the same host, holds for the rest of the run: a
 * verdict on content (udev's on a rule), not a reading of what the host has now. It is read once
 * per run: a change's probe under the host lock takes the refresh's verdict rather than checking
 * again (the dearest read of a change). A failure is read again each time.
 */
export const settled = (f: Raw | InShell): FactSource => ({ ...f, settled: true });
const verdicts = new Map<string, Fact>();
const verdictKey = (host: string, f: FactSource) => `${host}\n${isInShell(f) ? f.inShell.text : `( ${f.text} )`}`;

// Builtins that read a file exactly (a last line without its newline included): `ht_slurp F`
// leaves it in $ht_s, `ht_cat F` prints it. Dash's `read` drops NUL bytes, which no text file
// hosttune manages holds. A file that cannot be opened fails with the shell's message.
const HELPERS = raw(`ht_slurp() {
ht_s= ht_l=
while IFS= read -r ht_l; do ht_s="$ht_s$ht_l
"; done <"$1" || return
ht_s="$ht_s$ht_l"
}
ht_cat() { ht_slurp "$1" && printf '%s' "$ht_s"; }`);

/** In-shell: prints the file's content (see HELPERS). */
export const readFile = (path: string): Raw => sh`ht_cat ${path}`;
/** In-shell: the file's content into $ht_s (see HELPERS). */
export const slurp = (path: string): Raw => sh`ht_slurp ${path}`;

const BEGIN = "\x1ehosttune-fact ";
const END = "\x1ehosttune-rc ";
// The markers around each fact's output, written by the shell itself (\036 is BEGIN's and END's \x1e).
const begin = (name: string): Raw => sh`printf '\n\036hosttune-fact %s\n' ${name}`;
const end = sh`printf '\n\036hosttune-rc %s\n' "$?"`;

function inShellFacts(facts: [string, InShell][]): Raw {
  if (!facts.length) return raw("");
  return join([
    HELPERS,
    ...facts.map(
      ([name, f]) => sh`${begin(name)}; ht_fact() { ${raw(f.inShell.text)}
}; ht_fact 2>&1; ${end}`,
    ),
  ]);
}

function split(facts: FactSources): { own: [string, InShell][]; sub: [string, Raw][] } {
  const own: [string, InShell][] = [];
  const sub: [string, Raw][] = [];
  for (const [name, f] of Object.entries(facts)) isInShell(f) ? own.push([name, f]) : sub.push([name, f]);
  return { own, sub };
}

function subshellFacts(facts: [string, Raw][]): Raw {
  return join(
    facts.map(
      ([name, cmd]) => sh`${begin(name)}; ( ${raw(cmd.text)}
) 2>&1; ${end}`,
    ),
  );
}

/** Every fact, one after another: the in-shell ones first, then a subshell per other fact. */
export function factScript(facts: FactSources): Raw {
  const { own, sub } = split(facts);
  return join([inShellFacts(own), subshellFacts(sub)]);
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
  facts: FactSources;
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

/** Runs a batch's script some other way than a session of its own; null: it cannot, run as usual. */
export type Via = (c: Connection, script: Raw) => Promise<ExecResult | null>;

/**
 * Runs facts on the host and returns them parsed. Reads of one host that arrive together share
 * one script on one channel: a refresh reads every resource of a host at once, and one shell per
 * host rather than one per resource is most of what separates a fleet's preview from a plain ssh
 * loop. A batch forms while the host's connection comes up, then until reads stop arriving
 * (`quietMs`; 0: those of the same turn of the event loop, as reads that waited on one promise).
 * Reads `via` another way (the host lock's holder) batch apart from the others.
 */
export function readFacts(
  c: Connection,
  facts: FactSources,
  quietMs = QUIET_MS,
  via?: Via,
): Promise<ExecResult & { facts: Facts }> {
  const host = poolKey(c);
  const key = via ? `${host} via` : host;
  const known: Facts = {};
  const toRead: FactSources = {};
  for (const [name, f] of Object.entries(facts)) {
    const verdict = f.settled && verdicts.get(verdictKey(host, f));
    if (verdict) known[name] = verdict;
    else toRead[name] = f;
  }
  if (!Object.keys(toRead).length) return Promise.resolve({ code: 0, stdout: "", stderr: "", facts: known });
  return new Promise<ExecResult & { facts: Facts }>((resolve, reject) => {
    let queue = pending.get(key);
    if (!queue) {
      pending.set(key, (queue = []));
      void connected(c)
        .then(() => quiet(queue!, quietMs))
        .then(() => {
          pending.delete(key);
          return flush(c, queue!, via);
        });
    }
    queue.push({ facts: toRead, resolve, reject });
  }).then((r) => {
    for (const [name, f] of Object.entries(toRead))
      if (f.settled && r.facts[name]?.rc === 0) verdicts.set(verdictKey(host, f), r.facts[name]);
    return { ...r, facts: { ...r.facts, ...known } };
  });
}

/** Resolves once the queue has not grown for `ms`, or OPEN_MS after it is called. */
function quiet(queue: unknown[], ms: number): Promise<void> {
  const until = Date.now() + OPEN_MS;
  return new Promise((resolve) => {
    let seen = -1;
    const check = () => {
      if (ms === 0 || queue.length === seen || Date.now() >= until) return resolve();
      seen = queue.length;
      setTimeout(check, ms);
    };
    setImmediate(check);
  });
}

/**
 * The in-shell facts first, then the others side by side, as separate channels would run them
 * (a fact that waits does not hold up the others), their outputs in order; one after another
 * where no temporary folder can be made. Each of those costs one process: its markers are
 * written by the shell itself and its exit code comes from `wait`. With fewer than two of them,
 * side by side would only add processes (mktemp, cat, rm).
 */
export function concurrently(facts: FactSources): Raw {
  const { own, sub: entries } = split(facts);
  if (entries.length < 2) return factScript(facts);
  const out = (i: number) => raw(`"$d/${i}"`);
  return sh`${inShellFacts(own)}
if d=$(mktemp -d 2>/dev/null); then
trap 'rm -rf "$d"' EXIT
${join(
  entries.map(
    ([name, cmd], i) => sh`${begin(name)} >${out(i)}; ( ${raw(cmd.text)}
) >>${out(i)} 2>&1 & p${raw(String(i))}=$!`,
  ),
)}
${join(entries.map((_, i) => sh`wait $p${raw(String(i))}; ${end} >>${out(i)}`))}
cat ${entries.map((_, i) => out(i))}
else
${subshellFacts(entries)}
fi`;
}

async function flush(c: Connection, batch: Pending[], via?: Via): Promise<void> {
  const chunks: { items: Pending[]; facts: FactSources; bytes: number }[] = [];
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
        const script = items.length > 1 ? concurrently(facts) : factScript(facts);
        const r = (via && (await via(c, script))) ?? (await run(c, script));
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
