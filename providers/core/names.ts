// Strict name rules shared by every resource's schema: a value that reaches a path or a
// command line is checked here first, so a hostile name fails in `check`, before any SSH.
import { z } from "zod";
import { globToRegExp } from "./glob";

/**
 * For `.refine(...notOption)`: a name that reaches a command line starting with '-' would be
 * read as an option (`systemctl cat -H host` runs on another host).
 */
export const notOption = [
  (s: string) => !s.startsWith("-"),
  "must not start with '-' (a command would read it as an option)",
] as const;

/** Linux interface names: 1-15 bytes, no '/', no whitespace, not '.' or '..' (dev_valid_name). */
export const interfaceName = z
  .string()
  .regex(/^[A-Za-z0-9_.:@-]{1,15}$/, "must be a Linux interface name: 1-15 of A-Z a-z 0-9 _ . : @ -")
  .refine((s) => s !== "." && s !== "..", "must not be '.' or '..'")
  .refine(...notOption);

/** A shell-style glob over interface or device names (`tap*`, `eth[0-3]`, `sd?`). */
export const nameGlob = z
  .string()
  .regex(/^[A-Za-z0-9_.:@*?\[\]!-]{1,64}$/, "must be a name glob of A-Z a-z 0-9 _ . : @ - and * ? [ ] !")
  .refine(...notOption)
  // The glob matcher's refusals (a backwards range...) surface here, not at refresh.
  .superRefine((g, ctx) => {
    try {
      globToRegExp(g);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
    }
  });

/** A plain file name inside a directory we own: no path parts, no hidden or parent names. */
export function fileName(suffix: string) {
  const esc = suffix.replace(/\./g, "\\.");
  return z
    .string()
    .regex(
      new RegExp(`^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,200}${esc}$`),
      `must be a plain file name ending in ${suffix} (no '/', no leading '.')`,
    )
    .refine((s) => !s.includes(".."), "must not contain '..'");
}
