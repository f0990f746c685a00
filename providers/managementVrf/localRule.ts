// The `lookup local` rule after l3mdev (pref 32765), IPv4 and IPv6, as a shell fragment shared by
// the plan's step and the ifupdown hook that sets it at every ifup.
import { sh } from "../core/quote";

/** pref 0 goes only once the local lookup follows l3mdev: never no local lookup at all. */
export const LOCAL_RULE_AFTER_L3MDEV = sh`for f in -4 -6; do
  ip $f rule show pref 32765 table local | grep -q . || ip $f rule add pref 32765 table local
  if ip $f rule show pref 32765 table local | grep -q .; then ip $f rule del pref 0 table local 2>/dev/null || true; fi
done`;
