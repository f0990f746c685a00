// Commit-confirmed apply, for changes that can cut the SSH path (a router's commit confirmed,
// netplan try): the host runs the change as a detached job and rolls it back by itself unless
// a fresh SSH connection confirms it within the timeout.
import { randomBytes } from "node:crypto";
import { type Connection, target } from "./connection";
import { sh, type Raw } from "./quote";
import { applyScript, type Step } from "./steps";
import { dropConnection, exclusively, type ExecResult, HostError, run } from "./transport";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The deadline tracks the host's timer: a wall-clock step (NTP, a resumed VM) must not move it.
const now = () => performance.now();

/** The job the host runs: apply, wait for the confirm file, else roll back. */
export function confirmJob(dir: string, apply: Raw, rollback: Raw, timeoutSeconds: number): Raw {
  return sh`mkdir -p ${dir}
( ${apply}
) > ${dir + "/apply.log"} 2>&1; rc=$?
if [ "$rc" -ne 0 ]; then
  ( ${rollback}
  ) > ${dir + "/rollback.log"} 2>&1
  echo apply-failed > ${dir + "/result"}; echo "$rc" > ${dir + "/applied"}; exit 1
fi
echo 0 > ${dir + "/applied"}
# Seconds since boot: unlike date, never stepped (NTP may well sync right after the change).
up() { cut -d. -f1 /proc/uptime; }
end=$(( $(up) + ${timeoutSeconds} ))
while [ "$(up)" -lt "$end" ]; do
  if [ -e ${dir + "/confirmed"} ]; then echo confirmed > ${dir + "/result"}; exit 0; fi
  sleep 1
done
( ${rollback}
) > ${dir + "/rollback.log"} 2>&1
echo rolled-back > ${dir + "/result"}`;
}

/** Runs on a fresh connection: confirm once the apply finished; 75 = still applying. */
export function confirmCommand(dir: string): Raw {
  return sh`state=$(cat ${dir + "/applied"} 2>/dev/null) || exit 75
if [ "$state" != 0 ]; then cat ${dir + "/apply.log"}; exit 1; fi
touch ${dir + "/confirmed"}
for i in $(seq 30); do [ -e ${dir + "/result"} ] && break; sleep 1; done
cat ${dir + "/result"}`;
}

export function applyConfirmed(
  c: Connection,
  steps: Step[],
  rollback: Step[],
  timeoutSeconds: number,
  what: string,
): Promise<ExecResult> {
  return exclusively(c, () => applyConfirmedHolding(c, steps, rollback, timeoutSeconds, what));
}

async function applyConfirmedHolding(
  c: Connection,
  steps: Step[],
  rollback: Step[],
  timeoutSeconds: number,
  what: string,
): Promise<ExecResult> {
  const holding = { holdingHost: true };
  const token = randomBytes(6).toString("hex");
  const dir = `/run/hosttune/confirm/${token}`;
  const job = confirmJob(dir, applyScript(steps), applyScript(rollback), timeoutSeconds);
  const started = now();
  // The job goes to a file first: systemd-run cannot carry a multi-line command.
  const b64 = Buffer.from(job.text, "utf8").toString("base64");
  const launched = await run(
    c,
    sh`mkdir -p ${dir} && printf '%s' ${b64} | base64 -d > ${dir + "/job.sh"} && systemd-run --unit=${`hosttune-confirm-${token}`} --collect --quiet sh ${dir + "/job.sh"}`,
    holding,
  );
  if (launched.code !== 0)
    throw new HostError(target(c), `${what}: cannot start the commit-confirmed job: ${launched.stderr.trim()}`);
  // The change may cut the connection it was sent on: confirm only over a fresh one.
  await sleep(3000);
  dropConnection(c);
  const fresh = { ...c, dialErrorLimit: 1, perDialTimeout: 10 };
  while (now() - started < (timeoutSeconds - 10) * 1000) {
    try {
      // Short attempts: a connection made just before the network settled may hang.
      const r = await run(fresh, confirmCommand(dir), { ...holding, timeoutMs: 12_000 });
      if (r.code === 0 && r.stdout.trim() === "confirmed") return { code: 0, stdout: "", stderr: "" };
      if (r.code === 1)
        return { code: 1, stdout: "", stderr: `the change failed and the host rolled it back: ${r.stdout.trim()}` };
    } catch (e) {
      if (process.env.HOSTTUNE_DEBUG)
        console.error(`hosttune: confirm attempt on ${target(c)} failed: ${(e as Error).message}`);
      dropConnection(c);
    }
    await sleep(3000);
  }
  // Nothing got through: the host rolls itself back when its timer runs out; wait for that.
  await sleep(Math.max(0, started + timeoutSeconds * 1000 - now()));
  let result = "unknown";
  for (let i = 0; i < 20 && !["rolled-back", "confirmed", "apply-failed"].includes(result); i++) {
    await sleep(5000);
    dropConnection(c);
    result = await run(fresh, sh`cat ${dir + "/result"} 2>/dev/null || echo pending`, {
      ...holding,
      timeoutMs: 20_000,
    }).then(
      (r) => r.stdout.trim(),
      (e: Error) => `unreachable (${e.message})`,
    );
  }
  throw new HostError(
    target(c),
    `${what}: no fresh SSH connection could confirm the change within ${timeoutSeconds}s, so the host rolled it back by itself (job result: ${result}). The change cuts the SSH path: check that sshd stays reachable (e.g. l3mdevAccept.tcp on, the SSH interface's routes in the VRF)`,
  );
}
