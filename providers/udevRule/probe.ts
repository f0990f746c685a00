// Facts for UdevRule: our file's content, and udev's verdict on the intended content, obtained
// without making it live: `udevadm verify` where systemd has it (>= 253), else a dry
// `udevadm test` in a private mount namespace whose /etc/udev/rules.d holds the candidate.
import { fileContent, fileFact } from "../core/files";
import { fact, type Facts, type FactSources, inShell, settled, slurp } from "../core/facts";
import { sh } from "../core/quote";
import { RULES_DIR, ruleText, type UdevRuleDesired } from "./schema";

export interface UdevRuleObserved {
  /** Our file's content, null when absent. */
  file: string | null;
  /** udev's verdict on the intended content (null: accepted, or already the file's content). */
  rejected: string | null;
}

// A device no sensible rule targets: the dry run loads every rule file, runs none of RUN.
const TEST_DEVICE = "/sys/devices/virtual/mem/null";

export function probeFacts(d: UdevRuleDesired): FactSources {
  const path = `${RULES_DIR}/${d.fileName}`;
  const b64 = Buffer.from(ruleText(d), "utf8").toString("base64");
  return {
    file: fileFact(path),
    // A file that already holds the intended content is live as it is: nothing to check (and a
    // dry udevadm test loads every rule on the host, the dearest read of a converged fleet).
    // udev's acceptance of this content holds for the run: a change's probe takes the refresh's.
    verify: settled(
      inShell(sh`[ -f ${path} ] && ${slurp(path)} 2>/dev/null && [ "$ht_s" = ${ruleText(d)} ] && return 0
(command -v udevadm >/dev/null || { echo "udevadm is not installed (package udev)"; exit 2; }
tmp=$(mktemp -d /run/hosttune-udev.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
{ mkdir "$tmp/rules.d" && { [ ! -d ${RULES_DIR} ] || cp -a ${RULES_DIR + "/."} "$tmp/rules.d/"; } &&
  printf '%s' ${b64} | base64 -d > "$tmp/rules.d/"${d.fileName}; } || exit 2
if udevadm verify --help >/dev/null 2>&1; then
  udevadm verify --no-style "$tmp/rules.d/"${d.fileName} 2>&1; exit $?
fi
unshare -m sh -c 'mount --bind "$1" /etc/udev/rules.d || exit; udevadm test --action=add "$2" 2>&1; echo "$?" > "$3/rc"' \
  sh "$tmp/rules.d" ${TEST_DEVICE} "$tmp" > "$tmp/out" 2>&1
if grep -F ${path + ":"} "$tmp/out"; then exit 1; fi
# No verdict unless udevadm test ran (unshare, the bind mount and udevadm itself can fail).
case $(cat "$tmp/rc" 2>/dev/null) in ""|126|127) echo "the dry run of udevadm test did not run:"; cat "$tmp/out"; exit 2;; esac)`),
    ),
  };
}

export function observe(facts: Facts): UdevRuleObserved {
  const file = fact(facts, "file");
  const verify = fact(facts, "verify");
  if (verify.rc === 2) throw new Error(`cannot check the rule with udev: ${verify.out.trim()}`);
  return {
    file: fileContent(file),
    rejected: verify.rc === 0 ? null : verify.out.trim() || `udevadm rejected the rule (rc ${verify.rc})`,
  };
}
