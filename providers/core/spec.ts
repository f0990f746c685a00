// What a resource kind provides to the generic runner: pyinfra-style facts (read) and
// operations (steps), with a pure planner in between.
import type { z } from "zod";
import type { Facts, FactSources } from "./facts";
import type { Step } from "./steps";

/** One field the host does not have as asked. */
export interface Drift {
  field: string;
  asked: unknown;
  got: unknown;
}

export interface ResourceSpec<D, O, T, I = unknown> {
  /** Type token suffix: hosttune:<module>:<kind>. */
  kind: string;
  /** Desired state, validated in `check` (the connection is validated separately). */
  schema: z.ZodType<D, z.ZodTypeDef, I>;
  /** Identity on the host (the connection's target is prefixed by the runner). */
  id(d: D): string;
  /** Shell fragments whose outputs make the observation, run as one script. */
  facts(d: D): FactSources;
  /** Parses the facts; throws a plain Error with the fix when the host cannot do what is asked. */
  observe(facts: Facts, d: D): O;
  /** The state to converge to. */
  want(d: D, o: O): T;
  /** The state that puts back what the host had before create. */
  restore(d: D, recorded: O, current: O): T;
  /** Pure: what to run to get from `o` to `t`. Empty when in sync. */
  plan(t: T, o: O, d: D): Step[];
  /** Pure: where `o` differs from `t`. Empty when in sync. */
  drift(t: T, o: O): Drift[];
  /**
   * What the change does, measured (optional): run before a change and again once it is verified,
   * both kept in the outputs. Informational: a measurement that cannot run never fails the change.
   */
  effect?(d: D, o: O): Measurement | null;
  /**
   * For changes that can cut the SSH path: apply as a detached job that the host rolls back
   * by itself (with these steps) unless a fresh connection confirms within the timeout.
   */
  commitConfirmed?: {
    /** Whether this change (from `before`) can cut the path; always when absent. */
    when?(d: D, before: O): boolean;
    timeoutSeconds(d: D): number;
    /** Every step back to `before`, idempotent: the host runs them all without observing first. */
    rollback(d: D, before: O): Step[];
    /** What to check when no fresh connection got through. */
    hint: string;
  };
}

/** A measurement on the host: facts run in order under their own deadline, then read. */
export interface Measurement {
  facts: FactSources;
  timeoutMs: number;
  read(facts: Facts): unknown;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySpec = ResourceSpec<any, any, any, any>;

/** A resource kind from its parts: the probe module (facts, observe) and the planner module. */
export function defineSpec<D, O, T, I>(
  kind: string,
  schema: z.ZodType<D, z.ZodTypeDef, I>,
  id: (d: D) => string,
  probe: { probeFacts: ResourceSpec<D, O, T>["facts"]; observe: ResourceSpec<D, O, T>["observe"] },
  planner: Pick<ResourceSpec<D, O, T>, "want" | "restore" | "plan" | "drift">,
  extra: Pick<ResourceSpec<D, O, T>, "commitConfirmed" | "effect"> = {},
): ResourceSpec<D, O, T, I> {
  return {
    kind,
    schema,
    id,
    facts: probe.probeFacts,
    observe: probe.observe,
    want: planner.want,
    restore: planner.restore,
    plan: planner.plan,
    drift: planner.drift,
    ...extra,
  };
}
