// The one place where values become shell text. Every command hosttune sends is built with
// the `sh` tag, which single-quotes each interpolated value; `raw` marks a fragment that is
// already shell (built by `sh` itself), so composition never re-opens a quoting hole.

const RAW = Symbol("hosttune.raw");
export interface Raw {
  readonly [RAW]: true;
  readonly text: string;
}

export function raw(text: string): Raw {
  return { [RAW]: true, text };
}

function isRaw(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && RAW in v;
}

/** POSIX single-quote one value. NUL cannot be passed through a shell argument at all. */
export function quote(value: string | number): string {
  const s = String(value);
  if (s.includes("\0")) throw new Error(`refusing to pass a NUL byte to the shell: ${JSON.stringify(s)}`);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

type Arg = string | number | Raw | readonly (string | number | Raw)[];

function render(v: Arg): string {
  if (Array.isArray(v)) return v.map((x) => render(x)).join(" ");
  if (isRaw(v)) return v.text;
  return quote(v as string | number);
}

/**
 * Tagged template: `sh\`ip link set dev ${name} up\`` quotes `name`; returns a Raw fragment.
 * The literal parts are taken raw (like String.raw): backslashes reach the shell as written.
 */
export function sh(strings: TemplateStringsArray, ...values: Arg[]): Raw {
  let out = strings.raw[0];
  values.forEach((v, i) => {
    out += render(v) + strings.raw[i + 1];
  });
  return raw(out);
}

/** Joins fragments with a separator (newline by default) into one fragment. */
export function join(parts: readonly Raw[], sep = "\n"): Raw {
  return raw(parts.map((p) => p.text).join(sep));
}
