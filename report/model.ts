// What `hosttune report` collects: the JSON behind the page, written beside it. One shape for the
// collector (report/collect.ts), the page (report/html.ts) and NicCoalescing's before/after.

/** napi_poll work per poll on one NIC over a window: how many polls handled 0, 1, 2... packets. */
export interface NapiEffect {
  device: string;
  /** The tracer that counted: bpftrace where the host has it, else perf, else tracefs. */
  source: "bpftrace" | "perf" | "tracefs";
  windowSeconds: number;
  /** Polls by work done ("0" are polls that found no RX work: mostly TX-only interrupts). */
  histogram: Record<string, number>;
  polls: number;
  pollsPerSecond: number;
  /** Share of polls with work 0, 0..1 (null when there was no poll). */
  zeroWorkShare: number | null;
  /** Hardware interrupts per second of the NIC's IRQs (null: the NIC has none, e.g. netdevsim). */
  irqsPerSecond: number | null;
  /** The coalescing values in force while measuring (`ethtool -c`). */
  coalescing: Record<string, number | boolean | string>;
}

/** CPU stolen from a pinned process that never enters the kernel (D. Ahern's openssl method). */
export interface StolenCpu {
  cpu: number;
  seconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** systemSeconds / (user + system): work the kernel did in the process's time. */
  stolenShare: number;
}

/** A measurement that could not run, and why (e.g. "cannot measure: install bpftrace or perf"). */
export interface CannotMeasure {
  cannotMeasure: string;
}

export interface ResourceState {
  /** The resource's name in the stack (e.g. "vm1-nic-enp0s3"). */
  name: string;
  kind: string;
  state: "in-sync" | "drifted" | "unreachable" | "unknown";
  /** Asked vs got, one line per field ("rx-usecs: asked 100, got 50"). */
  drift: string[];
}

export interface HostFacts {
  kernel: string;
  systemd: string;
  nics: { device: string; driver: string; coalescingKeys: string[] }[];
  /** Root qdisc per device. */
  qdiscs: Record<string, string>;
  /** VRF of each unit a VrfBoundSystemdUnit binds, as the host reports it ("" when none). */
  vrfMembers: { unit: string; vrf: string }[];
  /** IO scheduler in force per disk. */
  schedulers: Record<string, string>;
}

export interface HostReport {
  name: string;
  address: string;
  reachable: boolean;
  /** Why the host could not be read (unreachable, host key, ...). */
  error?: string;
  resources: ResourceState[];
  facts?: HostFacts;
  /** napi_poll per NIC a NicCoalescing selects, measured now. */
  napi?: NapiEffect[] | CannotMeasure;
  /** Before/after histograms NicCoalescing kept from its last change, where asked to. */
  napiChange?: { device: string; before: NapiEffect; after: NapiEffect }[];
  stolen?: StolenCpu | CannotMeasure;
}

export interface FleetReport {
  stack: string;
  generatedAt: string;
  hosts: HostReport[];
}
