// The generic dynamic provider over a ResourceSpec: check (local), diff (pure, against the
// observation that `read` refreshed), create/update (observe, plan, act, verify), read
// (observe), delete (restore what create recorded, verify).
import { isDeepStrictEqual } from "node:util";
import type * as dynamic from "@pulumi/pulumi/dynamic";
import { type Connection, connectionSchema, target } from "./connection";
import { type Facts, factScript, parseFacts, readFacts } from "./facts";
import { join } from "./quote";
import type { AnySpec, Drift } from "./spec";
import { applyScript, describeSteps, failedStep, hostMessage, type Step } from "./steps";
import { applyConfirmed } from "./confirm";
import { withCredentials } from "./credentials";
import { forgetThroughHolder, runThroughHolder, withHostLock } from "./hostLock";
import {
  JOURNAL_FACT,
  type Journal,
  journalFact,
  journalPath,
  readJournal,
  removeJournal,
  writeJournal,
} from "./journal";
import { warnOnce } from "./engineLog";
import { CommandTimeout, type ExecResult, HostError, oneChangeAtATime, run, Unreachable } from "./transport";

export interface Outputs {
  connection: Connection;
  desired: unknown;
  observed: unknown;
  /** What the host had before create: delete puts it back. */
  recorded: unknown;
  /** Steps the last create/update ran (empty when the host already matched). */
  applied: string[];
  /** Where the host differs from what is asked, as of the last read (empty after create/update). */
  drift: string[];
  /** The last change's measured effect (spec.effect): before it, and after it was verified. */
  effect?: { before: unknown; after: unknown; at: string };
}

type Inputs = { connection: unknown; desired: unknown };

function failures(error: { issues: { path: (string | number)[]; message: string }[] }, prefix: string) {
  return error.issues.map((i) => ({ property: [prefix, ...i.path].join("."), reason: i.message }));
}

/** Equal as stored: key order and undefined fields aside (the engine's round trip keeps neither). */
function same(a: unknown, b: unknown): boolean {
  const plain = (v: unknown) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
  return isDeepStrictEqual(plain(a), plain(b));
}

export function driftLines(d: Drift[]): string[] {
  return d.map((x) => `${x.field}: asked ${JSON.stringify(x.asked)}, got ${JSON.stringify(x.got)}`);
}

export function formatDrift(d: Drift[]): string {
  return driftLines(d).join("; ");
}

/** The connection to dial: credentials resolved here, where pulumi runs (never in the engine). */
function live(c: Connection): Connection {
  try {
    return withCredentials(c);
  } catch (e) {
    throw new HostError(target(c), (e as Error).message);
  }
}

export class SpecProvider implements dynamic.ResourceProvider {
  constructor(private readonly spec: AnySpec) {}

  private where(c: Connection, d: unknown): string {
    return `${target(c)} ${this.spec.kind} ${this.spec.id(d)}`;
  }

  async check(_olds: Inputs, news: Inputs): Promise<dynamic.CheckResult> {
    const c = connectionSchema.safeParse(news.connection ?? {});
    const d = this.spec.schema.safeParse(news.desired ?? {});
    const f = [
      ...(c.success ? [] : failures(c.error, "connection")),
      ...(d.success ? [] : failures(d.error, "desired")),
    ];
    if (f.length) return { failures: f };
    // The program's own inputs are what the engine keeps and shows (a refresh run as part of the
    // program, `--run-program`, compares them with the state's while it reads); resolved where used.
    return { inputs: news };
  }

  /** Inputs as check passed them, resolved: the connection's defaults and ssh config, the kind's defaults. */
  resolve(i: Inputs): { connection: Connection; desired: unknown } {
    return { connection: connectionSchema.parse(i.connection), desired: this.spec.schema.parse(i.desired) };
  }

  async diff(_id: string, olds: Outputs, inputs: Inputs): Promise<dynamic.DiffResult> {
    const news = this.resolve(inputs);
    const c = news.connection;
    // Another host, or another identity on it (a renamed file, unit or VRF), is a replacement.
    // Delete first: the old resource puts back what the host had before, so the new one records
    // the real original rather than our own value, and no renamed file is left behind.
    const replaces = [
      ...(["host", "port"] as const).filter((k) => olds.connection?.[k] !== c[k]).map((k) => `connection.${k}`),
      ...(olds.desired !== undefined && this.spec.id(olds.desired) !== this.spec.id(news.desired) ? ["desired"] : []),
    ];
    if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
    if (!same(olds.desired, news.desired)) return { changes: true };
    // The connection the program gives is the one used from now on (new key, pin, sudo password).
    if (!same(olds.connection, c)) return { changes: true };
    // Same inputs: changes only if the host (as last read, i.e. refreshed) drifted.
    const drift = olds.drift ?? driftLines(this.spec.drift(this.spec.want(news.desired, olds.observed), olds.observed));
    return { changes: drift.length > 0 };
  }

  /**
   * One round trip: the kind's facts (and this resource's journal, if any) parsed. Under the host
   * lock (`locked`), the probes that waited for it go together at once, through the lock's holder.
   */
  private async probe(
    c: Connection,
    d: unknown,
    locked = false,
  ): Promise<{ observed: unknown; journal: Journal | null }> {
    const { kind } = this.spec;
    const id = this.spec.id(d);
    const facts = { ...this.spec.facts(d), [JOURNAL_FACT]: journalFact(kind, id) };
    const r = await (locked ? readFacts(c, facts, 0, runThroughHolder) : readFacts(c, facts));
    if (r.code !== 0)
      throw new HostError(target(c), `${kind} ${id}: probe failed (rc ${r.code}): ${r.stderr || r.stdout}`);
    return { observed: this.observation(c, d, r.facts), journal: readJournal(r.facts, kind, id) };
  }

  private observation(c: Connection, d: unknown, facts: Facts): unknown {
    try {
      return this.spec.observe(facts, d);
    } catch (e) {
      throw new HostError(target(c), `${this.spec.kind} ${this.spec.id(d)}: ${(e as Error).message}`);
    }
  }

  private async observe(c: Connection, d: unknown, locked = false): Promise<unknown> {
    return (await this.probe(c, d, locked)).observed;
  }

  /**
   * Under the host lock, from the probe that plans to the verify that proves: plan from the
   * live state, journal and run the steps, observe again, fail with asked-vs-got if it did not
   * take. A failed step or verify puts back what the host had before this run (best effort). A
   * lost connection is an unknown outcome: nothing is assumed, and the journal left on the host
   * lets the next run finish or undo it. `recorded` is what the host had before hosttune first
   * touched it: the journal's, else the state's, else now. The journal stays on the host while
   * the resource is managed (a run whose state was never saved still finds the original), and
   * goes once delete (`letGo`) has put the original back.
   */
  private converge(
    c: Connection,
    d: unknown,
    target_: (o: unknown, recorded: unknown) => unknown,
    stateRecorded?: unknown,
    letGo = false,
  ): Promise<{ observed: unknown; recorded: unknown; applied: Step[]; effect?: Outputs["effect"] }> {
    return withHostLock(c, async () => {
      const { kind } = this.spec;
      const id = this.spec.id(d);
      const where = `${kind} ${id}`;
      const { observed: before, journal } = await this.probe(c, d, true);
      const recorded = journal?.recorded ?? stateRecorded ?? before;
      const steps = this.spec.plan(target_(before, recorded), before, d);
      if (steps.length === 0) {
        if (journal && letGo) await this.forget(c, id);
        return { observed: before, recorded, applied: [] };
      }
      const measureBefore = this.measure(c, d, before);
      const effectBefore = measureBefore && (await measureBefore);
      // The original is journaled once, before the first change; later changes keep that record.
      const first = journal
        ? []
        : [writeJournal({ kind, id, recorded, started: new Date().toISOString(), steps: describeSteps(steps) })];
      const journaled = [...first, ...steps];
      const r: ExecResult = await this.apply(c, d, journaled, before, true).catch(async (e: Error) => {
        // Killed on the host at its deadline: nothing runs any more, so put back what it had.
        if (e instanceof CommandTimeout && e.stopped)
          throw new HostError(target(c), `${where}: ${e.reason}${await this.rollback(c, d, before, !journal)}`);
        if (e instanceof HostError) throw e;
        return { code: -1, stdout: "", stderr: e.message };
      });
      if (r.code === -1)
        throw new HostError(
          target(c),
          `${where}: the connection was lost during the change (${hostMessage(r.stderr) || "no exit status"}), ` +
            `so its outcome is unknown. The host keeps what it had before in ${journalPath(kind, id)}: ` +
            "the next up finishes the change from there, and destroy still restores the original",
        );
      if (r.code !== 0) {
        const i = failedStep(r.stderr);
        // Numbered as the kind's steps, from 1; a journal written first is step 0.
        const what =
          i >= 0 ? `step ${i + 1 - first.length}/${steps.length} "${journaled[i].describe}"` : "the step script";
        throw new HostError(
          target(c),
          `${where}: ${what} failed (rc ${r.code}): ${hostMessage(r.stderr) || r.stdout.trim()}${await this.rollback(c, d, before, !journal, r.hostRollback)}`,
        );
      }
      // The verify read rode on the apply when it could (see apply); else one of its own.
      const read = parseFacts(r.stdout);
      const after = Object.keys(read).length ? this.observation(c, d, read) : await this.observe(c, d, true);
      const drift = this.spec.drift(target_(after, recorded), after);
      if (drift.length)
        throw new HostError(
          target(c),
          `${where}: the host did not take the change: ${formatDrift(drift)}${await this.rollback(c, d, before, !journal)}`,
        );
      if (letGo) await this.forget(c, id);
      const measureAfter = measureBefore && this.measure(c, d, after);
      const effect = measureAfter
        ? { before: effectBefore, after: await measureAfter, at: new Date().toISOString() }
        : undefined;
      return { observed: after, recorded, applied: steps, effect };
    });
  }

  /** Removes the resource's journal: through the host lock's holder, else in a session of its own. */
  private async forget(c: Connection, id: string): Promise<void> {
    if (!(await forgetThroughHolder(c, journalPath(this.spec.kind, id))))
      await run(c, removeJournal(this.spec.kind, id));
  }

  /** spec.effect's measurement, or null when it asks for none; one that cannot run says why. */
  private measure(c: Connection, d: unknown, o: unknown): Promise<unknown> | null {
    const m = this.spec.effect?.(d, o);
    if (!m) return null;
    return run(c, factScript(m.facts), { timeoutMs: m.timeoutMs }).then(
      (r) => m.read(parseFacts(r.stdout)),
      (e: Error) => ({ cannotMeasure: e.message }),
    );
  }

  /**
   * The steps under the host lock, through its holder (else in a session); with `verify`, the
   * kind's facts read again after them in the same script (a commit-confirmed change reads over
   * the connection that confirms it instead).
   */
  private apply(c: Connection, d: unknown, steps: Step[], before: unknown, verify = false) {
    const cc = this.spec.commitConfirmed;
    const script = verify ? join([applyScript(steps), factScript(this.spec.facts(d))]) : applyScript(steps);
    const timeoutMs = (c.commandTimeout ?? 300) * 1000;
    return oneChangeAtATime(c, async () =>
      !cc || (cc.when && !cc.when(d, before))
        ? ((await runThroughHolder(c, script, timeoutMs)) ?? (await run(c, script, { timeoutMs })))
        : applyConfirmed(
            c,
            steps,
            cc.rollback(d, before),
            cc.timeoutSeconds(d),
            `${this.spec.kind} ${this.spec.id(d)}`,
            cc.hint,
          ),
    );
  }

  /**
   * Puts back `before`; returns a note for the error message. Once the host is proven back, a
   * journal this run wrote goes (`ownJournal`): left behind, a later create would take it for the
   * original though the host may have changed since. One written before stays: it is the record.
   */
  private async rollback(
    c: Connection,
    d: unknown,
    before: unknown,
    ownJournal: boolean,
    byHost?: ExecResult["hostRollback"],
  ): Promise<string> {
    const back = (o: unknown) => this.spec.plan(this.spec.restore(d, before, o), o, d);
    try {
      const steps = back(await this.observe(c, d, true));
      if (steps.length) {
        const r = await this.apply(c, d, steps, before);
        if (r.code !== 0) return ` (rollback failed too: ${hostMessage(r.stderr)}; the next up retries)`;
        if (back(await this.observe(c, d, true)).length)
          return " (the rollback ran, but the host is not as it was before; the next up retries)";
      }
      if (ownJournal) await this.forget(c, this.spec.id(d));
      // The host has already said how its own rollback went: what follows is what hosttune read after it.
      if (byHost)
        return steps.length
          ? " (hosttune then put back what that rollback left)"
          : byHost === "failed"
            ? " (hosttune read the host again after it: every setting it manages is as it was before)"
            : "";
      return steps.length ? " (rolled back to what the host had before)" : " (the host is as it was before)";
    } catch (e) {
      return ` (rollback failed too: ${(e as Error).message}; the next up retries)`;
    }
  }

  async create(inputs: Inputs): Promise<dynamic.CreateResult> {
    const { connection: c, desired } = this.resolve(inputs);
    const { observed, recorded, applied, effect } = await this.converge(live(c), desired, (o) =>
      this.spec.want(desired, o),
    );
    const outs: Outputs = {
      connection: c,
      desired,
      observed,
      recorded,
      applied: describeSteps(applied),
      drift: [],
      ...(effect && { effect }),
    };
    return { id: this.where(c, desired), outs };
  }

  async update(_id: string, olds: Outputs, inputs: Inputs): Promise<dynamic.UpdateResult> {
    const news = this.resolve(inputs);
    const c = news.connection;
    const { observed, recorded, applied, effect } = await this.converge(
      live(c),
      news.desired,
      (o) => this.spec.want(news.desired, o),
      olds.recorded,
    );
    // A run that changed nothing keeps the last change's effect.
    const last = effect ?? olds.effect;
    const outs: Outputs = {
      connection: c,
      desired: news.desired,
      observed,
      recorded,
      applied: describeSteps(applied),
      drift: [],
      ...(last && { effect: last }),
    };
    return { outs };
  }

  async read(id: string, props?: Outputs): Promise<dynamic.ReadResult> {
    if (!props?.connection)
      throw new Error(
        `${id}: cannot read without the state's connection (pulumi import is not supported for dynamic ` +
          "resources; declare the resource and run up: create adopts what the host has)",
      );
    let observed = props.observed;
    let drift: string[];
    try {
      observed = await this.observe(live(props.connection), props.desired);
      drift = this.driftOf(props.desired, observed);
    } catch (e) {
      // A host that is not as asked in a way the probe cannot express (a VRF or NIC gone), or
      // that the stored connection no longer reaches (a re-pinned key, a new sudo password, a
      // host down), is an observation: reported as drift for `up` to repair with the program's
      // connection (or to fail on, for that host alone), never a refresh that stops the fleet.
      if (!(e instanceof HostError)) throw e;
      drift = [e.message];
      // Named in the run's diagnostics too, once per host: a fleet's preview lists who is down.
      if (e instanceof Unreachable)
        await warnOnce(
          `${e.host} is unreachable: its resources show as changes until it answers, and up fails for it alone`,
        );
    }
    // No inputs: the state keeps the program's own (see check).
    return { id, props: { ...props, observed, drift } };
  }

  /**
   * What drifted. A host the planner cannot plan for as it is now (a VRF's interface no manager
   * owns any more) is drift too, named by the planner's reason: a refresh, and so a destroy, must
   * not stop on it; up fails on it before any change, for that host alone.
   */
  private driftOf(desired: unknown, observed: unknown): string[] {
    let target: unknown;
    try {
      target = this.spec.want(desired, observed);
    } catch (e) {
      return [`cannot plan for this host as it is now: ${(e as Error).message}`];
    }
    return driftLines(this.spec.drift(target, observed));
  }

  async delete(_id: string, props: Outputs): Promise<void> {
    await this.converge(
      live(props.connection),
      props.desired,
      (o, recorded) => this.spec.restore(props.desired, recorded, o),
      props.recorded,
      true,
    );
  }
}
