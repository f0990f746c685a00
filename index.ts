// The hosttune program: every host in the stack's fleet gets its tuning (the stack's, its
// groups', its own), as one HostTuning component per host, rolled out in the stack's waves.
// Exports each host's drift (asked vs got, per resource).
import * as pulumi from "@pulumi/pulumi";
// Not "./fleet": a dist/fleet.js left by a build from before fleet/ was a folder would shadow it.
import { fleetFromConfig, hostConnection, waves } from "./fleet/index";
import { HostTuning } from "./providers/hostTuning";

// Module-level code with named exports: what the SDK's program runner turns into the stack's
// outputs (a default-exported function would not be called by it).
function program() {
  const cfg = new pulumi.Config("hosttune");
  const fleet = fleetFromConfig(cfg);
  const secrets = {
    privateKey: cfg.getSecret("privateKey"),
    password: cfg.getSecret("password"),
    sudoPassword: cfg.getSecret("sudoPassword"),
  };

  const tunings: Record<string, HostTuning> = {};
  let previous: HostTuning[] = [];
  // The SDK records a stack trace for each of its promises (for leak reports only), and formats
  // each through source maps: about a seventh of a fleet program's CPU. Not while registering.
  // Each resource's own trace (its source position, which is in hosttune, not in the stack's
  // config) is then kept without the source-map lookup, in the compiled files' positions.
  const { stackTraceLimit, prepareStackTrace } = Error;
  Error.stackTraceLimit = 0;
  Reflect.deleteProperty(Error, "prepareStackTrace");
  try {
    for (const wave of waves(fleet.hosts, fleet.rollout)) {
      previous = wave.map((h) => {
        const connection = hostConnection(fleet, h, secrets);
        // A wave starts when every resource of the wave before is done, and not at all if one failed.
        return (tunings[h.name] = new HostTuning(h.name, { connection, tuning: h.tuning }, { dependsOn: previous }));
      });
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    Error.prepareStackTrace = prepareStackTrace;
  }
  const drift = Object.fromEntries(fleet.hosts.map((h) => [h.name, tunings[h.name].drift]));
  return { drift };
}

export const { drift } = program();
