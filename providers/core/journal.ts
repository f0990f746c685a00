// The per-resource journal on the host: what the host had before hosttune first touched it,
// written (atomically, under the host lock) as the first step of the first change and removed
// once delete has put that back. A run cut short (SSH dropped, the client killed), or one whose
// state was never saved (bin/pulumi saves it at the end of a run), leaves the original recorded
// on the host, so the next run neither adopts a half-applied change nor our own value as it.
import { createHash } from "node:crypto";
import { type Facts, inShell, type InShell, readFile } from "./facts";
import { sh, type Raw } from "./quote";
import type { Step } from "./steps";

export const JOURNAL_DIR = "/var/lib/hosttune/journal";
/** The probe's fact name for the journal (not a valid name for a kind's own facts). */
export const JOURNAL_FACT = "hosttune.journal";

export interface Journal {
  kind: string;
  id: string;
  /** What the host had before the first change (what delete puts back). */
  recorded: unknown;
  /** When the first change started, and its steps. */
  started: string;
  steps: string[];
}

export function journalPath(kind: string, id: string): string {
  return `${JOURNAL_DIR}/${createHash("sha256").update(`${kind} ${id}`).digest("hex").slice(0, 24)}.json`;
}

export function journalFact(kind: string, id: string): InShell {
  return inShell(sh`[ ! -f ${journalPath(kind, id)} ] || ${readFile(journalPath(kind, id))} 2>/dev/null; return 0`);
}

/** The journal the probe found, if it is this resource's. */
export function readJournal(facts: Facts, kind: string, id: string): Journal | null {
  const text = facts[JOURNAL_FACT]?.out.trim();
  if (!text) return null;
  try {
    const j = JSON.parse(text) as Journal;
    return j.kind === kind && j.id === id ? j : null;
  } catch {
    return null;
  }
}

export function writeJournal(j: Journal): Step {
  return {
    describe: `journal the change (${journalPath(j.kind, j.id)})`,
    writeFile: { path: journalPath(j.kind, j.id), content: JSON.stringify(j) + "\n", mode: "0600" },
  };
}

export function removeJournal(kind: string, id: string): Raw {
  return sh`rm -f ${journalPath(kind, id)}`;
}
