// The host lock: one run at a time changes a host, from the probe that plans a change to the
// verify that proves it. It is a flock on the host held by a long-lived SSH channel, so it
// spans several commands, is shared by every resource of this deployment on that host, and is
// released by the kernel when the channel or the connection goes away (a crashed run never
// leaves it behind). Other runs (another stack, another person) wait, and a wait that runs
// out changes nothing and names the holder.
import { hostname, userInfo } from "node:os";
import { type Connection, target } from "./connection";
import { JOURNAL_DIR } from "./journal";
import { raw, sh } from "./quote";
import { type Channel, HostError, openChannel, run, throwIfSudoRefused } from "./transport";

const DIR = "/run/hosttune";
const LOCKED = "hosttune-locked";
const HANDED_OVER = "hosttune-handed-over";
const FORGOT = "hosttune-forgot";

/**
 * The holder script: take the lock (or say who has it), then hold it until stdin closes. A
 * commit-confirmed change drops the connection (and so this channel) to confirm over a fresh
 * one: told `handover DIR` first, the holder leaves the lock with a detached child that keeps it
 * until that change settles (rolled back) or, confirmed, until the run writes DIR/released after
 * its verify. Should the run die: ten minutes after the confirm, an hour in all, at most.
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
    ch.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes(LOCKED)) resolve(ch);
    });
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
  await tell(held, `handover ${tokenDir}`, HANDED_OVER, 60_000);
}

/**
 * Removes a journal of this run through the lock holder's channel, without a session of its
 * own. False when there is no holder to ask (the lock not held here, or handed over) or it did
 * not answer: the caller removes it the usual way.
 */
export async function forgetThroughHolder(c: Connection, journal: string): Promise<boolean> {
  const held = locks().get(target(c));
  if (!held || held.handedOver.length) return false;
  return (await tell(held, `forget ${journal}`, FORGOT, 30_000)) === `${FORGOT} 0`;
}

/** One line to the holder, in turn; its answer (the line starting with `answer`), or null. */
function tell(held: Held, line: string, answer: string, timeoutMs: number): Promise<string | null> {
  const told = held.told.then(async () => {
    const ch = await held.ready;
    return new Promise<string | null>((resolve) => {
      let out = "";
      const done = (said: string | null) => {
        clearTimeout(timer);
        ch.stdout.off("data", onData);
        resolve(said);
      };
      const onData = (b: Buffer) => {
        out += b.toString();
        const at = out.indexOf(answer);
        const nl = out.indexOf("\n", at);
        if (at >= 0 && nl >= 0) done(out.slice(at, nl));
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      ch.stdout.on("data", onData);
      ch.write(`${line}\n`);
    });
  });
  held.told = told.catch(() => {});
  return told.catch(() => null);
}
