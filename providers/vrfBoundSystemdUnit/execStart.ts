// ExecStart handling: the unit's effective ExecStart lines (systemd's semantics over the
// fragment and drop-ins, ours excluded), and their wrapping in `ip vrf exec`.

/** Parses `systemctl cat UNIT` into files ("# /path" headers) and returns effective ExecStart values. */
export function effectiveExecStart(cat: string, excludePath: string): string[] {
  let lines: string[] = [];
  let skip = false;
  let section = "";
  for (const raw of cat.split("\n")) {
    const header = /^# (\/\S+)$/.exec(raw);
    if (header) {
      skip = header[1] === excludePath;
      section = "";
      continue;
    }
    if (skip) continue;
    const line = raw.trim();
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1];
      continue;
    }
    const m = /^ExecStart\s*=\s*(.*)$/.exec(line);
    if (section !== "Service" || !m) continue;
    if (m[1] === "") lines = [];
    else lines.push(m[1]);
  }
  return lines;
}

/** Splits systemd's executable prefixes (-, @, :, +, !, !!) from the command. */
export function splitPrefixes(value: string): { prefixes: string; command: string } {
  const m = /^([-@:+!]*)(.*)$/.exec(value)!;
  return { prefixes: m[1], command: m[2].trimStart() };
}

/**
 * `ip vrf exec VRF` in front of one ExecStart value. Prefixes stay on the line (they govern the
 * wrapper, whose exit status is the command's), except `@`: ip vrf exec cannot set argv[0], so
 * the argv[0] word that `@` introduces is dropped.
 */
export function wrapExecStart(value: string, ip: string, vrf: string): string {
  const { prefixes, command } = splitPrefixes(value);
  let cmd = command;
  if (prefixes.includes("@")) {
    const [exe, , ...rest] = command.split(/\s+/);
    cmd = [exe, ...rest].join(" ");
  }
  return `${prefixes.replace("@", "")}${ip} vrf exec ${vrf} ${cmd}`;
}
