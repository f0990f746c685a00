import { z } from "zod";
import { nameGlob, notOption } from "../core/names";

export const RULES_DIR = "/etc/udev/rules.d";

/** One key/operator/value of a structured rule: `ATTR{queue/scheduler}="bfq"`. */
export const clauseSchema = z
  .object({
    key: z
      .string()
      .regex(
        /^[A-Z][A-Z_]*(\{[A-Za-z0-9_.:/-]+\})?$/,
        "must be a udev key like KERNEL, ATTR{queue/scheduler} or ENV{ID_BUS}",
      ),
    op: z.enum(["==", "!=", "=", "+=", "-=", ":="], {
      errorMap: () => ({ message: "must be one of == != = += -= :=" }),
    }),
    // Rendered inside "..." with no escapes: keep quotes, backslashes and newlines out.
    value: z.string().regex(/^[^"\\\n\r\0]*$/, "must not contain double quotes, backslashes or newlines"),
  })
  .strict();

export type Clause = z.infer<typeof clauseSchema>;

const triggerSchema = z
  .object({
    action: z.enum(["add", "change"]).default("change"),
    subsystem: z
      .string()
      .regex(/^[a-z0-9_-]{1,32}$/, "must be a subsystem name like net or block")
      .refine(...notOption)
      .optional(),
    sysname: nameGlob.optional(),
    properties: z
      .record(z.string().regex(/^[A-Z0-9_]{1,64}$/, "must be a property name"), z.string().regex(/^[^\n\0]*$/))
      .optional(),
  })
  .strict();

export const udevRuleSchema = z
  .object({
    /** NN-name.rules under /etc/udev/rules.d. */
    fileName: z
      .string()
      .regex(
        /^[0-9]{2}-[A-Za-z0-9][A-Za-z0-9_.@+-]{0,120}\.rules$/,
        "must be NN-name.rules (two digits, a name, .rules; no path parts)",
      )
      .refine((s) => !s.includes(".."), "must not contain '..'"),
    /** The rules as raw text... */
    content: z
      .string()
      .regex(/^[^\0]*$/, "must not contain NUL")
      .optional(),
    /** ...or structured: each rule is a list of clauses, rendered one rule per line. */
    rules: z.array(z.array(clauseSchema).min(1, "a rule needs at least one clause")).min(1).optional(),
    /** After writing: reload always; trigger only if given, scoped so unrelated devices are not re-triggered. */
    trigger: triggerSchema.optional(),
  })
  .strict()
  .refine((d) => (d.content === undefined) !== (d.rules === undefined), {
    message: "give exactly one of content or rules",
    path: ["content"],
  });

export type UdevRuleDesired = z.infer<typeof udevRuleSchema>;

export function renderRules(rules: Clause[][]): string {
  return rules.map((r) => r.map((c) => `${c.key}${c.op}"${c.value}"`).join(", ")).join("\n") + "\n";
}

/** The file's intended content, always newline-terminated. */
export function ruleText(d: UdevRuleDesired): string {
  if (d.rules) return renderRules(d.rules);
  const text = d.content ?? "";
  return text.endsWith("\n") ? text : text + "\n";
}
