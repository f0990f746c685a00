// The host lock: one run at a time changes a host, from the probe that plans a change to the
// verify that proves it. It is a flock on the host held by a long-lived SSH channel, so it
// spans several commands, is shared by every resource of this deployment on that host, and is
// released by the kernel when the channel or the connection goes away (a crashed run never
// leaves it behind). Other runs (another stack, another person) wait, and a wait that runs
// out changes nothing and names the holder.
import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { type Connection, target } from "./connection";
import { JOURNAL_DIR } from "./journal";
import { type Raw, raw, sh } from "./quote";
import {
  type Channel,
  CommandTimeout,
  type ExecResult,
  HostError,
  KILL_GRACE_MS,
  openChannel,
  run,
  sharingHost,
  throwIfSudoRefused,
} from "./transport";

const DIR = "/run/hosttune";
const LOCKED = "hosttune-locked";
const HANDED_OVER = "hosttune-handed-over";
const FORGOT = "hosttune-forgot";
const RAN = "hosttune-ran";
const STDERR = "hosttune-stderr";

/**
 * The holder script: take the lock (or say who has it), then hold it until stdin closes. A
 * commit-confirmed change drops the connection (and so this channel) to confirm over a fresh
 * one: told `handover DIR` first, the holder leaves the lock with a detached child that keeps it
 * until that change settles (rolled back) or, confirmed, until the run writes DIR/released after
 * its verify; the holder itself then leaves. Should the run die: ten minutes after the confirm, an hour in all, at most.
 * Told `run SECONDS BYTES TOKEN` and then that many bytes of a script, it runs the script under
 * its deadline, without the lock's descriptor, and prints its output, then a line with the token,
 * its stderr, and a last line with the token and the exit code: the probe that plans a change and
 * the change's steps cost no session of their own. As a session's command is (`deadlined`), the
 * script is killed once stdin closes (the connection dropped): the lock goes with it.
 */
export function holdScript(owner: string, waitSeconds: number, dir = DIR) {
  const lock = `${dir}/host.lock`;
  const OWNER = `${dir}/host.owner`;
  const err = `${dir}/holder-`;
  return sh`mkdir -p ${dir} && exec 9>>${lock} 3<&0 || exit 1
if ! flock -n 9; then
  holder=$(cat ${OWNER} 2>/dev/null) || holder='an unknown process'
  flock -w ${String(waitSeconds)} 9 || { printf 'held by %s\n' "$holder"; exit 75; }
fi
printf '%s\n' ${owner} > ${OWNER}
echo ${LOCKED}
err=${err}$$.err
trap 'rm -f "$err"' EXIT
keeper=
while read -r cmd arg; do
  if [ "$cmd" = run ]; then
    set -- $arg
    script=$(head -c "$2")
    timeout -k 5 "$1" sh -c "$script" 9>&- 3<&- </dev/null 2>"$err" & job=$!
    { while read -r _; do :; done <&3; kill -s KILL -- -$job $job; } 9>&- >/dev/null 2>&1 & watch=$!
    wait $job; rc=$?
    # Gone before the answer: a watcher still alive as the next command arrives would eat its bytes.
    kill $watch 2>/dev/null; wait $watch
    printf '\n%s %s\n' ${STDERR} "$3"
    [ -s "$err" ] && cat "$err"
    printf '\n%s %s %s\n' ${RAN} "$3" "$rc"
    continue
  fi
  if [ "$cmd" = forget ]; then
    # A journal this run proved needless, removed without a session of its own: a plain name in
    # the journal folder, nothing else.
    name=${raw("${arg#")}${JOURNAL_DIR}/}
    case $name in
      "$arg" | */* | .* | "") echo ${FORGOT} 2 ;;
      *.json) rm -f -- "$arg"; echo ${FORGOT} "$?" ;;
      *) echo ${FORGOT} 2 ;;
    esac
    continue
  fi
  [ "$cmd" = handover ] || continue
  printf '%s, for its commit-confirmed change in %s\n' ${owner} "$arg" > ${OWNER}
  setsid sh -c 'n=0 late=0
while [ $n -lt 3600 ] && [ $late -lt 600 ]; do
  case "$(cat "$1/state" 2>/dev/null)" in
    applying | armed | rolling-back) ;;
    confirmed) [ -e "$1/released" ] && break; late=$((late + 1)) ;;
    *) break ;;
  esac
  n=$((n + 1)); sleep 1
done
rm -f "$2"' sh "$arg" ${OWNER} < /dev/null > /dev/null 2>&1 &
  keeper=1
  echo ${HANDED_OVER}
  # Nothing more is told to a holder handed over, and the change may orphan its connection (one
  # bound to a VRF it deletes never hears the client go): it leaves now, the keeper holding on.
  break
done
[ -n "$keeper" ] || rm -f ${OWNER}`;
}

interface Held {
  count: number;
  /** The holder's channel, open: what it is told waits there until the lock is held. */
  channel: Promise<Channel>;
  /** Resolves once the lock is held; rejects, saying why, when it cannot be. */
  locked: Promise<void>;
  /** What the holder printed after taking the lock, not yet taken by an answer. */
  out: Buffer;
  /** Called as the holder prints or its channel closes. */
  heard?: () => void;
  /** What was told to the holder, in order: each answer is the next line it prints. */
  told: Promise<unknown>;
  /** Token dirs of commit-confirmed changes the lock was handed over to. */
  handedOver: string[];
  /** Told nothing more: its channel closed, or an answer never came (what it prints next is not ours). */
  spent: boolean;
}

const LOCKS_KEY = Symbol.for("hosttune.hostLocks");
function locks(): Map<string, Held> {
  const g = globalThis as unknown as Record<symbol, Map<string, Held>>;
  return (g[LOCKS_KEY] ??= new Map());
}

function owner(): string {
  return `hosttune on ${hostname()} (pid ${process.pid}, user ${userInfo().username}) since ${new Date().toISOString()}`;
}

function hold(c: Connection, waitSeconds: number): Held {
  const held: Held = {
    count: 0,
    channel: openChannel(c, holdScript(owner(), waitSeconds)),
    locked: Promise.resolve(),
    out: Buffer.alloc(0),
    told: Promise.resolve(),
    handedOver: [],
    spent: false,
  };
  held.locked = held.channel.then(
    (ch) =>
      new Promise<void>((resolve, reject) => {
        let before = Buffer.alloc(0);
        let locked = false;
        ch.stdout.on("data", (b: Buffer) => {
          if (locked) held.out = Buffer.concat([held.out, b]);
          else {
            // Until locked, the holder prints only who has the lock; after it, answers.
            before = Buffer.concat([before, b]);
            const at = before.indexOf(`${LOCKED}\n`);
            if (at < 0) return;
            locked = true;
            held.out = before.subarray(at + LOCKED.length + 1);
            resolve();
          }
          held.heard?.();
        });
        void ch.closed.then((code) => {
          held.spent = true;
          held.heard?.();
          if (locked) return;
          const said = [before.toString().trim(), ch.stderr().trim()].filter(Boolean).join("; ");
          try {
            throwIfSudoRefused(c, ch.stderr());
          } catch (e) {
            return reject(e);
          }
          reject(
            new HostError(
              target(c),
              code === 75
                ? `another run is changing this host (${said}); nothing was changed. Wait for it, or stop it, and run again`
                : `cannot take the host lock in ${DIR} (rc ${code}): ${said}`,
            ),
          );
        });
      }),
  );
  // Its users see a failure as their first command's; none may be left unhandled.
  held.locked.catch(() => {});
  return held;
}

/**
 * Runs fn holding the host lock (taken once per host for this deployment's concurrent users).
 * fn starts at once, as the lock is asked for: what it tells the holder (runThroughHolder) is
 * answered once the lock is held, so the probe that plans a change costs no wait of its own.
 * Its first command must go through the holder: an answer means the lock is held, a failure to
 * take it is that command's error.
 */
export async function withHostLock<T>(c: Connection, fn: () => Promise<T>, waitSeconds = 600): Promise<T> {
  const key = target(c);
  let held = locks().get(key);
  if (!held) locks().set(key, (held = hold(c, waitSeconds)));
  held.count++;
  const mine = held;
  try {
    return await fn();
  } finally {
    if (--mine.count === 0) {
      if (locks().get(key) === mine) locks().delete(key);
      mine.channel.then(
        (ch) => ch.close(),
        () => {},
      );
      // Unreachable now, the keeper lets go within the hour by itself.
      if (mine.handedOver.length)
        await run(c, sh`touch ${mine.handedOver.map((d) => `${d}/released`)}`).catch(() => {});
    }
  }
}

/**
 * Before a commit-confirmed change drops the connection: the host keeps the lock for this run
 * until the change in `tokenDir` settles, and after a confirm until this run's verify is done.
 */
export async function handOverHostLock(c: Connection, tokenDir: string): Promise<void> {
  const held = locks().get(target(c));
  if (!held) return;
  held.handedOver.push(tokenDir);
  // Acknowledged by the holder before the connection goes (it takes the holder with it). The
  // change is under way: a holder that does not answer leaves the window unlocked, no worse.
  await tell(held, `handover ${tokenDir}\n`, HANDED_OVER, 60_000).catch(() => {});
}

/**
 * Removes a journal of this run through the lock holder's channel, without a session of its
 * own. False when there is no holder to ask (the lock not held here, or handed over) or it did
 * not answer: the caller removes it the usual way.
 */
export async function forgetThroughHolder(c: Connection, journal: string): Promise<boolean> {
  const held = usableHolder(c);
  if (!held) return false;
  const r = await tell(held, `forget ${journal}\n`, FORGOT, 30_000).catch(() => null);
  return typeof r === "object" && r !== null && "said" in r && r.said === `${FORGOT} 0`;
}

/**
 * Runs a script (a probe, a change's steps) through the lock holder's channel, under the lock and
 * its deadline, as `run` does in a session: a command killed at its deadline is a CommandTimeout,
 * a connection lost while it ran has no exit status (code -1: its outcome is unknown). Null when
 * there is no holder to ask (the lock not held here, or handed over): the caller runs it in a
 * session of its own. Shares the host's gate with sessions (a change that can cut the path runs alone).
 */
export function runThroughHolder(c: Connection, script: Raw, timeoutMs = 300_000): Promise<ExecResult | null> {
  return sharingHost(c, async () => {
    const held = usableHolder(c);
    if (!held) return null;
    const seconds = Math.ceil(timeoutMs / 1000);
    const body = Buffer.from(script.text, "utf8");
    const token = randomBytes(8).toString("hex");
    const told = Buffer.concat([Buffer.from(`run ${seconds} ${body.length} ${token}\n`), body]);
    const t0 = performance.now();
    const r = await tell(held, told, `${RAN} ${token} `, timeoutMs + KILL_GRACE_MS);
    if (r === "late") throw new CommandTimeout(target(c), seconds, false);
    if (r === "unsent")
      throw new HostError(
        target(c),
        "the connection that holds the host lock was lost before this command; it did not run",
      );
    if (r.cut) return { code: -1, stdout: r.before.toString("utf8"), stderr: "the connection to the host was lost" };
    const code = Number(r.said.split(" ")[2]);
    // Stopped by `timeout` at its deadline (TERM, else KILL), as the host reports it.
    if (performance.now() - t0 >= timeoutMs && (code === 124 || code === 137))
      throw new CommandTimeout(target(c), seconds, true);
    const marker = `\n${STDERR} ${token}\n`;
    const mark = r.before.lastIndexOf(marker);
    // Each part ends with the newline the holder adds before the next.
    const part = (b: Buffer) => b.toString("utf8").replace(/\n$/, "");
    return {
      code,
      stdout: part(r.before.subarray(0, mark)),
      stderr: part(r.before.subarray(mark + marker.length)),
    };
  });
}

function usableHolder(c: Connection): Held | undefined {
  const held = locks().get(target(c));
  return held && !held.handedOver.length ? held : undefined;
}

type Answer = { said: string; before: Buffer; cut?: false } | { before: Buffer; cut: true };

/**
 * Bytes to the holder, in turn, as soon as its channel is open; its answer (the line starting
 * with `answer`, once the lock is held) and what it printed before it. "late": no answer in
 * `timeoutMs` from the lock (the holder is then spent); "unsent": the holder was gone before;
 * `cut`: its channel closed before it answered. Rejects when the lock cannot be taken.
 */
function tell(
  held: Held,
  told: string | Buffer,
  answer: string,
  timeoutMs: number,
): Promise<Answer | "late" | "unsent"> {
  const answered = held.told.then(async () => {
    const ch = await held.channel;
    const spent = held.spent;
    if (!spent) ch.write(told);
    // A lock never taken is the error of every command told (or not) to its holder.
    await held.locked;
    if (spent) return "unsent" as const;
    return new Promise<Answer | "late">((resolve) => {
      const done = (r: Answer | "late") => {
        clearTimeout(timer);
        held.heard = undefined;
        resolve(r);
      };
      const check = () => {
        const at = held.out.indexOf(answer);
        const nl = at < 0 ? -1 : held.out.indexOf("\n", at);
        if (nl >= 0) {
          const r = { said: held.out.subarray(at, nl).toString("utf8"), before: held.out.subarray(0, at) };
          held.out = held.out.subarray(nl + 1);
          return done(r);
        }
        if (held.spent) done({ before: held.out, cut: true });
      };
      const timer = setTimeout(() => {
        held.spent = true;
        done("late");
      }, timeoutMs);
      held.heard = check;
      check();
    });
  });
  held.told = answered.catch(() => {});
  return answered;
}
