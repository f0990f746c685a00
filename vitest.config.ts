import { BaseSequencer, type TestSpecification } from "vitest/node";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

/** e2e files in name order, the reboot tests last: what they leave (boot-time defaults) never leaks into the others. */
class LabOrder extends BaseSequencer {
  async sort(files: TestSpecification[]) {
    const rank = (f: TestSpecification) => (/reboot\.test\.ts$/i.test(f.moduleId) ? 1 : 0);
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
  }
}

export default defineConfig({
  test: {
    sequence: { sequencer: LabOrder },
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        // The real CLI on fleets of real sshd hosts on this machine (test/fleet/fleetStack.ts):
        // no VMs. Files one after another (each starts a fleet); a slow host is a normal host,
        // so the timeouts are generous.
        test: {
          name: "fleet",
          include: ["test/fleet/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/globalSetup.ts"],
          // One lab, shared by every e2e file: files run one after another against it.
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 900_000,
        },
      },
      {
        // e2e files that boot a lab of their own (own dir, ports, stack and state): they run
        // beside the shared lab's files rather than after them. (A pool of its own: projects
        // that share one pool share its one worker on this 2-core machine, one file at a time.)
        test: {
          name: "ownlab",
          include: ["test/ownlab/**/*.test.ts"],
          // test/e2e/lab.ts's lab for these files: their own dir, ports and state backend.
          env: {
            HOSTTUNE_TEST_LAB_DIR: process.env.HOSTTUNE_OWNLAB_DIR ?? join(__dirname, ".lab", "test-ownlab"),
            HOSTTUNE_TEST_LAB_PORT: process.env.HOSTTUNE_OWNLAB_PORT ?? "10142",
            HOSTTUNE_TEST_STATE_DIR: join(__dirname, ".hosttune", "test-state-ownlab"),
          },
          pool: "threads",
          fileParallelism: false,
          testTimeout: 1_800_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
