// The SDK's debug messages (three gRPC calls per resource from the program to the engine) are
// sent only when the CLI shows or logs them (scripts/plugins/sdk-preload.js, bin/pulumi): a `--debug`
// preview still shows them, and one where bin/pulumi was told not to ask has none.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { SshdFleet } from "../../bench/sshdFleet";
import { type CliStack, pulumi } from "../e2e/lab";
import { CURRENT_QDISC, fleetRule, fleetStack, startFleet, stopFleet } from "./fleetStack";

const SDK_DEBUG =
  /debug: RegisterResource RPC prepared: t=pulumi-nodejs:dynamic\/hosttune:UdevRule, name=h1-udev-91-fleet-a\.rules/;
let fleet: SshdFleet;
let stack: CliStack;

beforeAll(async () => {
  fleet = await startFleet(1);
  stack = await fleetStack("e2e-fleet-sdk-debug", fleet, {
    defaultQdisc: { qdisc: CURRENT_QDISC },
    udevRules: [fleetRule("a")],
  });
});

afterAll(async () => {
  await stack?.remove();
  stopFleet(fleet);
});

it("a --debug preview shows the program's SDK debug messages; without being asked, the program sends none", async () => {
  const preview = (env: Record<string, string>) =>
    pulumi(["preview", "--debug", "--stack", stack.name], undefined, env).then((r) => {
      expect(r.code, r.stdout + r.stderr).toBe(0);
      return r.stdout;
    });
  const shown = await preview({});
  expect(shown).toMatch(SDK_DEBUG);
  expect(shown).toMatch(/h1-udev-91-fleet-a\.rules +create/);
  // bin/pulumi leaves a variable the user set as it is: empty, it asks for none.
  const unasked = await preview({ HOSTTUNE_SDK_DEBUG: "" });
  expect(unasked).not.toMatch(/debug: RegisterResource RPC/);
  expect(unasked).toMatch(/h1-udev-91-fleet-a\.rules +create/);
});
