import { z } from "zod";
import { fileName, nameGlob } from "../core/names";

/** Qdiscs that can be a default root qdisc (classless, no required parameters). */
export const DEFAULT_QDISCS = [
  "pfifo_fast",
  "pfifo",
  "bfifo",
  "noqueue",
  "fq",
  "fq_codel",
  "fq_pie",
  "cake",
  "codel",
  "pie",
  "sfq",
  "hhf",
] as const;
/** Built into every kernel: no sch_* module to look for. */
export const BUILTIN_QDISCS = ["pfifo_fast", "pfifo", "bfifo", "noqueue"];

export const defaultQdiscSchema = z
  .object({
    qdisc: z.enum(DEFAULT_QDISCS, { errorMap: () => ({ message: `must be one of ${DEFAULT_QDISCS.join(", ")}` }) }),
    fileName: fileName(".conf").default("90-hosttune-default-qdisc.conf"),
    /** Also give existing devices whose names match this glob the new default (the sysctl only affects new ones). */
    reapplyTo: nameGlob.optional(),
  })
  .strict();

export type DefaultQdiscDesired = z.infer<typeof defaultQdiscSchema>;

export const SYSCTL_DIR = "/etc/sysctl.d";
export const KEY = "net.core.default_qdisc";
