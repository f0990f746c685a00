// Boots the e2e lab once for every e2e file: fresh VMs (new overlays on the cached images; by
// default vm1 Debian 12 and vm2 Debian 13, so every file proves both releases; set
// HOSTTUNE_TEST_RELEASES to choose) unless HOSTTUNE_TEST_REUSE_LAB=1, a fresh state backend,
// and the compiled project that the providers' shim loads. Stops the VMs at the end unless
// HOSTTUNE_TEST_KEEP_LAB=1.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { LAB_DIR, LAB_PORT, LAB_RELEASES, LAB_VMS, REPO } from "./lab";

function lab(...args: string[]) {
  execFileSync("bash", [join(REPO, "lab", "lab.sh"), ...args], {
    stdio: "inherit",
    env: {
      ...process.env,
      HOSTTUNE_LAB_DIR: LAB_DIR,
      HOSTTUNE_LAB_PORT: String(LAB_PORT),
      HOSTTUNE_LAB_RELEASES: LAB_RELEASES,
      HOSTTUNE_LAB_STACK: "",
    },
  });
}

export async function setup() {
  execFileSync("npx", ["tsc", "-p", REPO], { stdio: "inherit", cwd: REPO });
  rmSync(join(REPO, ".hosttune", "test-state"), { recursive: true, force: true });
  if (process.env.HOSTTUNE_TEST_REUSE_LAB !== "1") lab("down");
  lab("up", String(LAB_VMS));
}

export async function teardown() {
  if (process.env.HOSTTUNE_TEST_KEEP_LAB !== "1") lab("down");
}
