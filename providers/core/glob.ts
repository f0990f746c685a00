// Shell-style glob matching for names (`*`, `?`, `[...]`, `[!...]`), done locally so that a
// glob never reaches a remote shell unquoted. The same glob also goes to sh (`case`) and udev
// (fnmatch), so this is their dialect: in a bracket expression a leading `]` (after an optional
// `!`) is literal, `-` first or last is literal, and a `[` that is never closed is literal.

const classChar = (c: string) => c.replace(/[\]\\^-]/, "\\$&");

/** The regex class for the bracket expression opening at glob[start], or null if unclosed. */
function bracket(glob: string, start: number): { re: string; end: number } | null {
  let i = start + 1;
  const negate = glob[i] === "!";
  if (negate) i++;
  let set = "";
  for (let first = true; i < glob.length && (first || glob[i] !== "]"); first = false) {
    if (glob[i] === "[" && (glob[i + 1] === ":" || glob[i + 1] === "."))
      throw new Error(
        `'${glob}': character classes and collating symbols ([:digit:], [.x.]) are not supported; use a range like [0-9]`,
      );
    const lo = glob[i];
    if (glob[i + 1] === "-" && i + 2 < glob.length && glob[i + 2] !== "]") {
      const hi = glob[i + 2];
      if (lo > hi) throw new Error(`'${glob}': the range ${lo}-${hi} is backwards (write ${hi}-${lo})`);
      set += `${classChar(lo)}-${classChar(hi)}`;
      i += 3;
    } else {
      set += classChar(lo);
      i++;
    }
  }
  return i < glob.length ? { re: `[${negate ? "^" : ""}${set}]`, end: i } : null;
}

/** Compiles a glob; throws, with the reason, on one that sh and udev would not read alike. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    const set = ch === "[" ? bracket(glob, i) : null;
    if (set) {
      re += set.re;
      i = set.end;
    } else if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[.+^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp("^" + re + "$");
}

export function globMatch(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}
