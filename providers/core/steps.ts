// Steps are data, so preview, tests and errors can show them without a host. They become
// one script that runs under the per-host lock: an apply stops at the first failing step, a
// rollback runs every step.
import { join, raw, sh, type Raw } from "./quote";

/** replaceLink: the path may be a symlink that the file replaces (resolv.conf); otherwise a symlink is refused. */
export interface WriteFile {
  path: string;
  content: string;
  /** A new file's mode (an existing file keeps its own). */
  mode?: "0644" | "0600" | "0755";
  replaceLink?: boolean;
}

export type Step =
  | { describe: string; run: Raw }
  | { describe: string; writeFile: WriteFile }
  | { describe: string; removeFile: string };

/**
 * Polls `ready` (a shell command list) every half second until it succeeds; after `seconds`, runs
 * `report` (which says on stderr what is still amiss) and fails. What a manager does on its own
 * time (a netdev created, a lease taken) is waited for, not slept for.
 */
export function waitUntil(ready: Raw, seconds: number, report: Raw): Raw {
  return sh`n=0
until { ${ready}
}; do
  n=$((n + 1))
  if [ $n -gt ${seconds * 2} ]; then
    { ${report}
    } >&2
    exit 1
  fi
  sleep 0.5
done`;
}

export const LOCK_FILE = "/run/hosttune/lock";
const FAILED = "\x1ehosttune-failed ";

const UMASK = { "0644": "022", "0600": "077", "0755": "022" } as const;

/**
 * Atomic write: temp file in the same directory, mode and owner of the old file kept, rename.
 * The rename would turn a symlink into a regular file (Debian's 99-sysctl.conf -> ../sysctl.conf),
 * so a symlink is refused unless replacing it is the point. Shell builtins where they do (a
 * process costs a host 3 to 7 ms): the content by printf (base64 only for a NUL, which no shell
 * word holds), the temp file named by the script's pid in a folder only root writes.
 */
export function atomicWrite({ path, content, mode = "0644", replaceLink = false }: WriteFile): Raw {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const refuseLink = replaceLink
    ? sh``
    : sh`if [ -L ${path} ]; then
  printf '%s is a symlink to %s: hosttune does not write through or replace symlinks; '\
'remove the link or choose another file\n' ${path} "$(readlink ${path})" >&2; exit 1
fi
`;
  const fill = content.includes("\0")
    ? sh`printf '%s' ${Buffer.from(content, "utf8").toString("base64")} | base64 -d > "$tmp"`
    : sh`printf '%s' ${content} > "$tmp"`;
  return sh`${refuseLink}[ -d ${dir} ] || mkdir -p ${dir}
tmp=${dir + "/.hosttune."}$$
trap 'rm -f "$tmp"' EXIT
if [ -e ${path} ]; then cp -p ${path} "$tmp"; else rm -f "$tmp"; umask ${UMASK[mode]}; fi
${fill}
${mode === "0755" ? sh`chmod 0755 "$tmp"` : sh`:`}
sync "$tmp"
mv -f "$tmp" ${path}
trap - EXIT`;
}

function stepBody(step: Step): Raw {
  if ("run" in step) return step.run;
  if ("writeFile" in step) return atomicWrite(step.writeFile);
  // A systemd drop-in directory (UNIT.TYPE.d) we emptied goes too; never rules.d or sysctl.d.
  const dir = step.removeFile.slice(0, step.removeFile.lastIndexOf("/"));
  return /\/[^/]+\.[a-z]+\.d$/.test(dir)
    ? sh`rm -f ${step.removeFile}; rmdir ${dir} 2>/dev/null || true`
    : sh`rm -f ${step.removeFile}`;
}

/** One step in a subshell that stops at its first failing command. */
const stepShell = (step: Step) => sh`( set -e
${raw(stepBody(step).text)}
)`;

const takeLock = (then: Raw) => sh`mkdir -p /run/hosttune && exec 9>${LOCK_FILE} && flock -w 120 9 || ${then}`;

/** The apply script: take the host lock (two runs never interleave), run steps in order. */
export function applyScript(steps: readonly Step[]): Raw {
  return join([
    takeLock(sh`{ echo "another hosttune run has held "${LOCK_FILE}" for 120s" >&2; exit 75; }`),
    // Tested on a line of its own: a subshell on the left of || would run with set -e ignored.
    ...steps.map(
      (s, i) => sh`${stepShell(s)}
[ $? -eq 0 ] || { printf '\n\036hosttune-failed %s\n' ${i} >&2; exit 1; }`,
    ),
  ]);
}

/**
 * The rollback script: every step runs even when an earlier one failed (a failed step must not
 * skip the one that gives an interface back). Step i's output goes to DIR/step-i.log and a line
 * "i rc" to DIR/steps; exits 1 if any step failed. It waits for the host lock, but a rollback
 * that never runs is worse than one beside another run: after 120 s it goes ahead.
 */
export function rollbackScript(steps: readonly Step[], dir: string): Raw {
  return join([
    sh`failed=0; : > ${dir + "/steps"}`,
    takeLock(sh`echo "rolling back without the host lock: another hosttune run has held it for 120s" >&2`),
    ...steps.map(
      (s, i) =>
        sh`${stepShell(s)} > ${`${dir}/step-${i}.log`} 2>&1; rc=$?; echo ${i} "$rc" >> ${dir + "/steps"}; [ "$rc" -eq 0 ] || failed=1`,
    ),
    sh`exit "$failed"`,
  ]);
}

/** Which step failed, from the apply script's stderr (-1 if none reported). */
export function failedStep(stderr: string): number {
  const i = stderr.lastIndexOf(FAILED);
  return i < 0 ? -1 : Number.parseInt(stderr.slice(i + FAILED.length), 10);
}

/** stderr without our markers: what the host said. */
export function hostMessage(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => !l.startsWith("\x1ehosttune"))
    .join("\n")
    .trim();
}

export function describeSteps(steps: readonly Step[]): string[] {
  return steps.map((s) => s.describe);
}
