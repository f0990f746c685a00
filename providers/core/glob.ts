// Shell-style glob matching for names (`*`, `?`, `[...]`, `[!...]`), done locally so that a
// glob never reaches a remote shell unquoted.
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else if (ch === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let set = glob.slice(i + 1, end);
        if (set.startsWith("!")) set = "^" + set.slice(1);
        re += "[" + set.replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp("^" + re + "$");
}

export function globMatch(glob: string, name: string): boolean {
  return globToRegExp(glob).test(name);
}
