// Commit-confirmed apply, for changes that can cut the SSH path (a router's commit confirmed,
// netplan try): the host runs the change as a detached job and rolls it back by itself unless
// a fresh SSH connection confirms it within the timeout.
//
// The pending rollback lives on disk (CONFIRM_ROOT/<token>/: the rollback script, a state file),
// armed before the change starts, so a reboot inside the window cannot make the change
// permanent: an enabled oneshot unit runs every armed, unconfirmed rollback at boot. State moves
// (applying -> armed -> confirmed, or -> rolling-back -> rolled-back | rollback-failed) happen
// under a flock on the token's lock file, so the job, the boot unit and a confirm never both act.
import { randomBytes } from "node:crypto";
import { type Connection, target } from "./connection";
import { handOverHostLock } from "./hostLock";
import { join, sh, type Raw } from "./quote";
import { applyScript, atomicWrite, rollbackScript, type Step } from "./steps";
import { dropConnection, exclusively, type ExecResult, HostError, run } from "./transport";

export const CONFIRM_ROOT = "/var/lib/hosttune/confirm";
export const BOOT_UNIT = "hosttune-pending-rollback.service";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The deadline tracks the host's timer: a wall-clock step (NTP, a resumed VM) must not move it.
const now = () => performance.now();

/** Shell prelude: `dir`, and setstate, which replaces the state file durably (a reboot may follow). */
const prelude = (dir: string) => sh`dir=${dir}
setstate() { echo "$1" > "$dir/state.new" && sync "$dir/state.new" && mv -f "$dir/state.new" "$dir/state" && sync "$dir"; }`;

/**
 * settle.sh REASON: roll back unless settled. REASON is apply-failed, deadline (the job) or boot
 * (the boot unit: only for a change armed in an earlier boot, whose job the reboot killed; it
 * skips a token someone holds). A rollback a reboot cut short runs again: every step is idempotent.
 */
export function settleScript(dir: string): Raw {
  return sh`${prelude(dir)}
exec 8>>"$dir/lock"
if [ "$1" = boot ]; then
  [ "$(cat "$dir/boot" 2>/dev/null)" = "$(cat /proc/sys/kernel/random/boot_id)" ] && exit 0
  flock -n 8 || exit 0
else
  flock 8
fi
case "$(cat "$dir/state" 2>/dev/null)" in
  applying | armed | rolling-back) ;;
  *) exit 0 ;;
esac
echo "$1" > "$dir/reason"
setstate rolling-back
if sh "$dir/rollback.sh" > "$dir/rollback.log" 2>&1 8>&-; then setstate rolled-back; else setstate rollback-failed; fi`;
}

/** The job the host runs: apply (holding the token), then wait for a confirm, else settle. */
export function confirmJob(dir: string, apply: Raw, timeoutSeconds: number): Raw {
  return sh`${prelude(dir)}
exec 8>>"$dir/lock"
flock 8
# (The token's lock stays with us: nothing the change starts may hold it.)
( ${apply}
) > "$dir/apply.log" 2>&1 8>&-
rc=$?
echo "$rc" > "$dir/applied"
if [ "$rc" -ne 0 ]; then exec 8>&-; exec sh "$dir/settle.sh" apply-failed; fi
setstate armed
exec 8>&-
# Seconds since boot: unlike date, never stepped (NTP may well sync right after the change).
up() { cut -d. -f1 /proc/uptime; }
end=$(( $(up) + ${timeoutSeconds} ))
while [ "$(up)" -lt "$end" ]; do
  [ "$(cat "$dir/state")" = confirmed ] && exit 0
  sleep 1
done
exec sh "$dir/settle.sh" deadline`;
}

/** What the boot unit runs: settle every token at boot. */
export function bootScript(root: string): Raw {
  return sh`for s in ${root}/*/settle.sh; do [ -e "$s" ] && sh "$s" boot; done; true`;
}

// After whichever network manager configures the host at boot (networkd, ifupdown's networking
// service, NetworkManager), so a rollback undoes what it set up rather than racing it.
const BOOT_UNIT_TEXT = `# Managed by hosttune: rolls back commit-confirmed changes that a reboot interrupted.
[Unit]
Description=hosttune: roll back unconfirmed changes a reboot interrupted
After=systemd-networkd.service networking.service NetworkManager.service
[Service]
Type=oneshot
# A daemon the rollback starts (ifup's DHCP client) outlives it.
KillMode=process
ExecStart=/bin/sh ${CONFIRM_ROOT}/boot.sh
[Install]
WantedBy=multi-user.target
`;

/** The token's files, written (state: applying) before the job starts. */
export function confirmFiles(dir: string, steps: Step[], rollback: Step[], timeoutSeconds: number) {
  return {
    "rollback.sh": rollbackScript(rollback, dir).text,
    "settle.sh": settleScript(dir).text,
    "job.sh": confirmJob(dir, applyScript(steps), timeoutSeconds).text,
    state: "applying\n",
  };
}

/** One round trip: arm the rollback on disk, install the boot unit if needed, start the job. */
function launchCommand(dir: string, token: string, files: Record<string, string>): Raw {
  const unit = `/etc/systemd/system/${BOOT_UNIT}`;
  const b64 = Buffer.from(BOOT_UNIT_TEXT).toString("base64");
  return join([
    sh`set -e`,
    // Settled tokens older than a week go: their logs have served.
    sh`for d in ${CONFIRM_ROOT}/*/; do
  case "$(cat "$d/state" 2>/dev/null)" in
    confirmed | rolled-back | rollback-failed) [ -n "$(find "$d/state" -mtime +7)" ] && rm -rf "$d" ;;
  esac
done`,
    ...Object.entries(files).map(([name, content]) => atomicWrite({ path: `${dir}/${name}`, content })),
    sh`cat /proc/sys/kernel/random/boot_id > ${dir + "/boot"}`,
    atomicWrite({ path: `${CONFIRM_ROOT}/boot.sh`, content: bootScript(CONFIRM_ROOT).text + "\n" }),
    sh`printf '%s' ${b64} | base64 -d | cmp -s - ${unit} || { ${atomicWrite({ path: unit, content: BOOT_UNIT_TEXT })}
systemctl daemon-reload; }`,
    sh`systemctl is-enabled -q ${BOOT_UNIT} || systemctl enable -q ${BOOT_UNIT}`,
    // Durable (files, the unit's enablement) before anything changes.
    sh`sync`,
    // KillMode=process: a daemon the change starts (ifup's DHCP client) outlives the job.
    sh`systemd-run --unit=${`hosttune-confirm-${token}`} --collect --quiet -p KillMode=process sh ${dir + "/job.sh"}`,
  ]);
}

/**
 * Reports the state (75: the token is busy, applying or rolling back), why a rollback ran, the
 * first failed rollback step with its output, and the apply's output if it failed; with
 * `confirm`, first confirms an armed change.
 */
export function confirmCommand(dir: string, confirm: boolean): Raw {
  return sh`${prelude(dir)}
exec 8>>"$dir/lock"
flock -w 10 8 || exit 75
state=$(cat "$dir/state" 2>/dev/null) || state=missing
if ${confirm ? "true" : "false"} && [ "$state" = armed ]; then setstate confirmed && state=confirmed; fi
printf '\036state %s\n\036reason %s\n' "$state" "$(cat "$dir/reason" 2>/dev/null)"
set -- $(awk '$2 != 0 { print $1, $2; exit }' "$dir/steps" 2>/dev/null)
if [ $# = 2 ]; then printf '\036failed-step %s %s\n' "$1" "$2"; tail -c 2000 "$dir/step-$1.log"; fi
if [ "$(cat "$dir/applied" 2>/dev/null)" != 0 ]; then printf '\036apply-log\n'; tail -c 4000 "$dir/apply.log" 2>/dev/null; fi
true`;
}

export interface Outcome {
  state: string;
  reason: string;
  /** The first rollback step that failed, with its output. */
  failedStep?: { index: number; rc: number; output: string };
  applyLog?: string;
}

const APPLY_LOG = "\x1eapply-log\n";

export function parseOutcome(stdout: string): Outcome {
  const o: Outcome = { state: "", reason: "" };
  // The apply's log comes last and holds markers of its own: taken whole.
  const log = stdout.indexOf(APPLY_LOG);
  if (log >= 0) o.applyLog = stdout.slice(log + APPLY_LOG.length);
  for (const part of stdout
    .slice(0, log < 0 ? undefined : log)
    .split("\x1e")
    .slice(1)) {
    const nl = part.indexOf("\n");
    const [head, body] = nl < 0 ? [part, ""] : [part.slice(0, nl), part.slice(nl + 1).trim()];
    const [key, ...rest] = head.split(" ");
    const value = rest.join(" ");
    if (key === "state") o.state = value;
    else if (key === "reason") o.reason = value;
    else if (key === "failed-step") o.failedStep = { index: Number(rest[0]), rc: Number(rest[1]), output: body };
  }
  return o;
}

const SETTLED = ["confirmed", "rolled-back", "rollback-failed"];
const BUSY = ["applying", "rolling-back"];
/** How long a busy host is waited for, in budgets (window and margin) from the launch. */
const BUSY_BOUND = 4;

/**
 * What a settled, unconfirmed outcome means: an apply that failed (and was rolled back) is a
 * failed step script, for the runner to name the step; anything else, the error's message.
 */
function settled(o: Outcome, rollback: Step[], timeoutSeconds: number, what: string, hint: string, dir: string) {
  const f = o.failedStep;
  const failedAt = f
    ? `${f.index + 1}/${rollback.length} (${rollback[f.index]?.describe}): ${f.output || `exit ${f.rc}, no output`}`
    : "? (none reported)";
  const rolled = (how: string) =>
    o.state === "rolled-back"
      ? `rolled it back${how}`
      : `tried to roll it back${how}, but the rollback failed at step ${failedAt}; ` +
        `it ran every other step (logs in ${dir} on the host)`;
  if (o.reason === "apply-failed")
    return {
      code: 1,
      stdout: "",
      stderr: `${o.applyLog ?? ""}\n(the host ${rolled("")})`,
      hostRollback: o.state === "rolled-back" ? "done" : "failed",
    } satisfies ExecResult;
  if (o.reason === "boot")
    return `${what}: the host rebooted before the change was confirmed, and at boot it ${rolled("")}`;
  return `${what}: no fresh SSH connection could confirm the change within ${timeoutSeconds}s, so the host ${rolled(" by itself")}. ${hint}`;
}

/** A commit-confirmed apply, with the host to itself (see Gate): no other command is cut by it. */
export function applyConfirmed(...args: Parameters<typeof applyConfirmedHolding>): Promise<ExecResult> {
  return exclusively(args[0], () => applyConfirmedHolding(...args));
}

// Beyond the window: the host's timer starts when the apply ends, and a rollback (or a reboot
// and the boot unit's rollback) takes its time on a slow host.
const SETTLE_MARGIN_S = 120;

async function applyConfirmedHolding(
  c: Connection,
  steps: Step[],
  rollback: Step[],
  timeoutSeconds: number,
  what: string,
  hint: string,
): Promise<ExecResult> {
  const holding = { holdingHost: true };
  const token = randomBytes(6).toString("hex");
  const dir = `${CONFIRM_ROOT}/${token}`;
  const started = now();
  const launched = await run(c, launchCommand(dir, token, confirmFiles(dir, steps, rollback, timeoutSeconds)), holding);
  if (launched.code !== 0)
    throw new HostError(target(c), `${what}: cannot start the commit-confirmed job: ${launched.stderr.trim()}`);
  // The change may cut the connection it was sent on, and a connection made before the change
  // took effect (to an sshd that outlives its restart, over the old routes) proves nothing:
  // confirm only over a connection dialed after the host reported the change armed. Any confirm
  // the host accepts is a success, however late; the host alone decides when it is too late.
  await handOverHostLock(c, dir);
  await sleep(3000);
  dropConnection(c);
  const budget = (timeoutSeconds + SETTLE_MARGIN_S) * 1000;
  let deadline = started + budget;
  let last = "no answer";
  let armed = false;
  while (now() < deadline) {
    const left = deadline - now();
    // Generous attempts on a slow host, none past the deadline.
    const fresh = {
      ...c,
      dialErrorLimit: 1,
      perDialTimeout: Math.max(5, Math.min(c.perDialTimeout, Math.floor(left / 1000))),
    };
    let o: Outcome | undefined;
    try {
      const r = await run(fresh, confirmCommand(dir, armed), {
        ...holding,
        timeoutMs: Math.min(Math.max(left, 15_000), 60_000),
      });
      o = parseOutcome(r.stdout);
      last = r.code === 75 ? "busy: applying or rolling back" : `state ${o.state || `unreadable: ${r.stderr.trim()}`}`;
      // A host that answers it is still at work (each step bounds its own waits) is no silent
      // host: its time counts from that answer, up to a hard bound.
      if (r.code === 75 || BUSY.includes(o.state))
        deadline = Math.min(Math.max(deadline, now() + budget), started + BUSY_BOUND * budget);
    } catch (e) {
      last = `unreachable (${(e as Error).message})`;
      if (process.env.HOSTTUNE_DEBUG) console.error(`hosttune: confirm attempt on ${target(c)}: ${last}`);
      dropConnection(c);
    }
    if (o?.state === "confirmed") return { code: 0, stdout: "", stderr: "" };
    if (o?.state === "armed") {
      // The host's window began when its apply ended, which on a slow host may be well after
      // the launch: the budget counts from the first time the change is seen armed.
      if (!armed) deadline = Math.max(deadline, now() + budget);
      armed = true;
      dropConnection(c);
      continue;
    }
    if (o && SETTLED.includes(o.state)) {
      const r = settled(o, rollback, timeoutSeconds, what, hint, dir);
      if (typeof r === "string") throw new HostError(target(c), r);
      return r;
    }
    await sleep(3000);
  }
  throw new HostError(
    target(c),
    `${what}: unknown whether the host kept or rolled back the change: no answer within ` +
      `${Math.round((now() - started) / 1000)}s (last: ${last}). Unless confirmed, the host rolls it back by itself; ` +
      `see ${dir} on the host. ${hint}`,
  );
}
