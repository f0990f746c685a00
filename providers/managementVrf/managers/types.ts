// What a network manager module provides to ManagementVrf: a fact that tells whether it owns an
// interface, what it writes for the VRF (pure), and the steps that apply and undo it with the
// manager's own commands.
import type { Raw } from "../../core/quote";
import type { Step } from "../../core/steps";
import type { ManagementVrfDesired } from "../schema";

export type ManagerName = "networkd" | "netplan" | "NetworkManager" | "ifupdown" | "ifupdown2";

/** A manager that configures an interface, and where (a .network file, a profile, a stanza). */
export interface Owner {
  manager: ManagerName;
  source: string;
  /** The source's content, where the driver builds on it (NetworkManager's profile); null: unreadable. */
  content?: string | null;
}

/** How one manager tells which interfaces it owns: a fact, and its parse (interface -> owner). */
export interface Detector {
  fact(interfaces: string[]): Raw;
  owners(out: string): Record<string, Owner>;
}

/** What a driver's planning may read of the observation. */
export interface HostView {
  owners: Record<string, Owner[]>;
  /** DHCP clients on the host (their hooks are where a lease's routes can be moved). */
  dhcpClients: string[];
}

export interface FileSpec {
  content: string;
  /** Hooks that a manager runs (run-parts) must be executable; some managers read only private files. */
  mode?: "0755" | "0600";
}

/** A manager hosttune drives: its files for the VRF, and its own commands to apply and undo them. */
export interface Driver {
  name: ManagerName;
  /** Every file it may have written for this VRF on any host (read by the probe, removed when unused). */
  paths(d: ManagementVrfDesired, h: HostView): string[];
  /** The files that make the VRF, with the manager, at boot and on its every reload. */
  render(d: ManagementVrfDesired, h: HostView): Record<string, FileSpec>;
  /** Applies the files: creates the VRF, enslaves the interfaces, their routes into its table. */
  up(d: ManagementVrfDesired, h: HostView): Step;
  /** Undoes it (our files already gone): the VRF deleted, the interfaces configured as before. */
  down(d: ManagementVrfDesired, h: HostView): Step;
  /** The manager keeps `lookup local` after l3mdev itself (its files declare it): this step asks it to. */
  localRule?(d: ManagementVrfDesired): Step;
  /** It needs hosttune's oneshot unit to delete the kernel's pref-0 local rule at boot. */
  rulesUnit: boolean;
}
