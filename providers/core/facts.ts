// Facts: everything a resource needs to know about a host, gathered by one script in one
// round trip. Each fact is a shell fragment; its output and exit code come back by name.
import { join, raw, sh, type Raw } from "./quote";

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
