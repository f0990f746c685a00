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
  openChannel,
  run,
  throwIfSudoRefused,
} from "./transport";

const DIR = "/run/hosttune";
const LOCKED = "hosttune-locked";
const HANDED_OVER = "hosttune-handed-over";
const FORGOT = "hosttune-forgot";
const READ = "hosttune-read";

/**
 * The holder script: take the lock (or say who has it), then hold it until stdin closes. A
 * commit-confirmed change drops the connection (and so this channel) to confirm over a fresh
 * one: told `handover DIR` first, the holder leaves the lock with a detached child that keeps it
 * until that change settles (rolled back) or, confirmed, until the run writes DIR/released after
 * its verify. Should the run die: ten minutes after the confirm, an hour in all, at most.
 * Told `read SECONDS BYTES TOKEN` and then that many bytes of a fact script, it runs the script
 * under its deadline, without the lock's descriptor, and ends its output with the token and the
 * script's exit code: the probe that plans a change costs no session of its own.
 */
export function holdScript(owner: string, waitSeconds: number, dir = DIR) {
  const lock = `${dir}/host.lock`;
  const OWNER = `${dir}/host.owner`;
  return sh`mkdir -p ${dir} && exec 9>>${lock} || exit 1
if ! flock -n 9; then
  holder=$(cat ${OWNER} 2>/dev/null) || holder='an unknown process'
  flock -w ${String(waitSeconds)} 9 || { printf 'held by %s\n' "$holder"; exit 75; }
fi
printf '%s\n' ${owner} > ${OWNER}
echo ${LOCKED}
keeper=
while read -r cmd arg; do
  if [ "$cmd" = read ]; then
    set -- $arg
    script=$(head -c "$2") && timeout -k 5 "$1" sh -c "$script" 9>&- </dev/null 2>&1
    printf '\n%s %s %s\n' ${READ} "$3" "$?"
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
done
[ -n "$keeper" ] || rm -f ${OWNER}`;
}

interface Held {
  count: number;
  ready: Promise<Channel>;
  /** What was told to the holder, in order: each answer is the next line it prints. */
  told: Promise<unknown>;
  /** Token dirs of commit-confirmed changes the lock was handed over to. */
  handedOver: string[];
}

const LOCKS_KEY = Symbol.for("hosttune.hostLocks");
function locks(): Map<string, Held> {
  const g = globalThis as unknown as Record<symbol, Map<string, Held>>;
  return (g[LOCKS_KEY] ??= new Map());
}

function owner(): string {
  return `hosttune on ${hostname()} (pid ${process.pid}, user ${userInfo().username}) since ${new Date().toISOString()}`;
}

async function acquire(c: Connection, waitSeconds: number): Promise<Channel> {
  const ch = await openChannel(c, holdScript(owner(), waitSeconds));
  let out = "";
  return new Promise((resolve, reject) => {
    // Read until locked: what the holder prints after that is the answer to what it is told.
    const onData = (b: Buffer) => {
      out += b.toString();
      if (!out.includes(LOCKED)) return;
      ch.stdout.off("data", onData);
      resolve(ch);
    };
    ch.stdout.on("data", onData);
    void ch.closed.then((code) => {
      const said = [out.trim(), ch.stderr().trim()].filter(Boolean).join("; ");
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
  });
}

/** Runs fn holding the host lock (taken once per host for this deployment's concurrent users). */
export async function withHostLock<T>(c: Connection, fn: () => Promise<T>, waitSeconds = 600): Promise<T> {
  const key = target(c);
  let held = locks().get(key);
  if (!held) {
    held = { count: 0, ready: acquire(c, waitSeconds), told: Promise.resolve(), handedOver: [] };
    locks().set(key, held);
  }
  held.count++;
  const mine = held;
  try {
    await mine.ready;
    return await fn();
  } finally {
    if (--mine.count === 0) {
      if (locks().get(key) === mine) locks().delete(key);
      mine.ready.then(
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
  await tell(held, `handover ${tokenDir}\n`, HANDED_OVER, 60_000);
}

/**
 * Removes a journal of this run through the lock holder's channel, without a session of its
 * own. False when there is no holder to ask (the lock not held here, or handed over) or it did
 * not answer: the caller removes it the usual way.
 */
export async function forgetThroughHolder(c: Connection, journal: string): Promise<boolean> {
  const held = usableHolder(c);
  if (!held) return false;
  return (await tell(held, `forget ${journal}\n`, FORGOT, 30_000))?.said === `${FORGOT} 0`;
}

/**
 * Runs a fact script (it only reads) through the lock holder's channel, under the script's
 * deadline; null when there is no holder to ask (the lock not held here, or handed over): the
 * caller runs it in a session of its own. No answer by the deadline and a grace is a timeout.
 */
export async function readThroughHolder(c: Connection, script: Raw, timeoutMs = 300_000): Promise<ExecResult | null> {
  const held = usableHolder(c);
  if (!held) return null;
  const seconds = Math.ceil(timeoutMs / 1000);
  const body = Buffer.from(script.text, "utf8");
  const token = randomBytes(8).toString("hex");
  const told = Buffer.concat([Buffer.from(`read ${seconds} ${body.length} ${token}\n`), body]);
  const r = await tell(held, told, `${READ} ${token} `, timeoutMs + 30_000);
  if (!r) throw new CommandTimeout(target(c), seconds, false);
  // The script's output ends with the newline the holder adds before its answer.
  return { code: Number(r.said.split(" ")[2]), stdout: r.before.replace(/\n$/, ""), stderr: "" };
}

function usableHolder(c: Connection): Held | undefined {
  const held = locks().get(target(c));
  return held && !held.handedOver.length ? held : undefined;
}

/**
 * Bytes to the holder, in turn; its answer (the line starting with `answer`) and what it printed
 * before it, or null if it did not answer in time.
 */
function tell(
  held: Held,
  told: string | Buffer,
  answer: string,
  timeoutMs: number,
): Promise<{ said: string; before: string } | null> {
  const answered = held.told.then(async () => {
    const ch = await held.ready;
    return new Promise<{ said: string; before: string } | null>((resolve) => {
      const out: Buffer[] = [];
      const done = (r: { said: string; before: string } | null) => {
        clearTimeout(timer);
        ch.stdout.off("data", onData);
        resolve(r);
      };
      const onData = (b: Buffer) => {
        out.push(b);
        // Decoded whole: a chunk may end inside a multi-byte character.
        const text = Buffer.concat(out).toString("utf8");
        const at = text.indexOf(answer);
        const nl = text.indexOf("\n", at);
        if (at >= 0 && nl >= 0) done({ said: text.slice(at, nl), before: text.slice(0, at) });
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      ch.stdout.on("data", onData);
      ch.write(told);
    });
  });
  held.told = answered.catch(() => {});
  return answered.catch(() => null);
}
