// The host lock: one run at a time changes a host, from the probe that plans a change to the
// verify that proves it. It is a flock on the host held by a long-lived SSH channel, so it
// spans several commands, is shared by every resource of this deployment on that host, and is
// released by the kernel when the channel or the connection goes away (a crashed run never
// leaves it behind). Other runs (another stack, another person) wait, and a wait that runs
// out changes nothing and names the holder.
import { hostname, userInfo } from "node:os";
import { type Connection, target } from "./connection";
import { sh } from "./quote";
import { HostError, openChannel, throwIfSudoRefused } from "./transport";

const DIR = "/run/hosttune";
const LOCKED = "hosttune-locked";

/** The holder script: take the lock (or say who has it), then hold it until stdin closes. */
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
cat > /dev/null
rm -f ${OWNER}`;
}

interface Held {
  count: number;
  ready: Promise<() => void>;
}

const LOCKS_KEY = Symbol.for("hosttune.hostLocks");
function locks(): Map<string, Held> {
  const g = globalThis as unknown as Record<symbol, Map<string, Held>>;
  return (g[LOCKS_KEY] ??= new Map());
}

function owner(): string {
  return `hosttune on ${hostname()} (pid ${process.pid}, user ${userInfo().username}) since ${new Date().toISOString()}`;
}

async function acquire(c: Connection, waitSeconds: number): Promise<() => void> {
  const ch = await openChannel(c, holdScript(owner(), waitSeconds));
  let out = "";
  return new Promise((resolve, reject) => {
    ch.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes(LOCKED)) resolve(ch.close);
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
    held = { count: 0, ready: acquire(c, waitSeconds) };
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
        (release) => release(),
        () => {},
      );
    }
  }
}
