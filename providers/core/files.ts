// Managed files, read as a fact and converged as steps: the same few lines every resource
// with a file (sysctl.d, udev rules, drop-ins) would otherwise repeat.
import { type Fact, inShell, type InShell, readFile } from "./facts";
import { sh } from "./quote";
import type { Step, WriteFile } from "./steps";

const ABSENT = 3;

/** A fact holding the file's exact content; exit 3 when there is no file. */
export function fileFact(path: string): InShell {
  // Anything but a file (a folder, a device) is left to cat, and its error.
  return inShell(
    sh`if [ -f ${path} ]; then ${readFile(path)}; elif [ -e ${path} ]; then cat ${path}; else return 3; fi`,
  );
}

/** The content a fileFact read, or null for no file. */
export function fileContent(f: Fact): string | null {
  return f.rc === ABSENT ? null : f.out;
}

/** Steps that make `path` hold `want` (null: no file), given that it holds `got`. */
export function fileSteps(
  path: string,
  want: string | null,
  got: string | null,
  opts: Pick<WriteFile, "replaceLink" | "mode"> = {},
): Step[] {
  if (want === got) return [];
  return [
    want === null
      ? { describe: `remove ${path}`, removeFile: path }
      : { describe: `write ${path}`, writeFile: { path, content: want, ...opts } },
  ];
}

/**
 * The reload: udevd takes one control request at a time, and a busy one refuses the next at once
 * ("Resource temporarily unavailable"), so it is asked again a second later, 5 times in all.
 */
export const UDEV_RELOAD = {
  describe: "udevadm control --reload",
  run: sh`n=1; until udevadm control --reload; do [ $n -lt 5 ] || exit 1; n=$((n + 1)); sleep 1; done`,
} satisfies Step;

/** fileSteps for a udev rule, then a reload so udev uses it for the next events. */
export function udevRuleFileSteps(path: string, want: string | null, got: string | null): Step[] {
  const steps = fileSteps(path, want, got);
  return steps.length ? [...steps, UDEV_RELOAD] : [];
}
