import { defineSpec } from "../core/spec";
import { napiFacts, napiResult, napiTimeoutMs } from "../effect/napi";
import * as planner from "./plan";
import * as probe from "./probe";
import { nicCoalescingSchema, type NicCoalescingDesired } from "./schema";

export const nicCoalescingSpec = defineSpec(
  "NicCoalescing",
  nicCoalescingSchema,
  (d: NicCoalescingDesired) => `coalescing/${d.interface ?? d.match ?? "*"}${d.driver ? `@${d.driver}` : ""}`,
  probe,
  planner,
  {
    // napi_poll on the NICs it tunes, with the coalescing in force at the time.
    effect: (d, o) => {
      if (!d.measure) return null;
      const devices = Object.keys(o.nics);
      const seconds = d.measure.windowSeconds;
      return {
        facts: napiFacts(devices, seconds),
        timeoutMs: napiTimeoutMs(seconds),
        read: (facts) => {
          const r = napiResult(facts, devices, seconds);
          if (!("effects" in r)) return r;
          const nics = r.effects.map((e) => ({ ...e, coalescing: probe.supported(o.nics[e.device]?.values ?? {}) }));
          return { nics, leftover: r.leftover };
        },
      };
    },
  },
);
