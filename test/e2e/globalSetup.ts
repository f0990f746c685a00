// Boots the e2e lab once for every e2e file: fresh VMs (new overlays on the cached images; by
// default vm1 Debian 12 and vm2 Debian 13, so every file proves both releases; set
// HOSTTUNE_TEST_RELEASES to choose) unless HOSTTUNE_TEST_REUSE_LAB=1, a fresh state backend,
// and the compiled project that the providers' shim loads. Stops the VMs at the end unless
// HOSTTUNE_TEST_KEEP_LAB=1.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { LAB_VMS, labSh, REPO, STATE_DIR } from "./lab";

export async function setup() {
  execFileSync("npx", ["tsc", "-p", REPO], { stdio: "inherit", cwd: REPO });
  rmSync(STATE_DIR, { recursive: true, force: true });
  if (process.env.HOSTTUNE_TEST_REUSE_LAB !== "1") await labSh("down");
  await labSh("up", String(LAB_VMS));
}

export async function teardown() {
  if (process.env.HOSTTUNE_TEST_KEEP_LAB !== "1") await labSh("down");
}
