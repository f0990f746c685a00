import { z } from "zod";
import { interfaceName } from "../core/names";

const cidr = z
  .string()
  .regex(
    /^([0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,2}|[0-9A-Fa-f:]+\/[0-9]{1,3})$/,
    "must be an address with prefix length, like 127.0.0.1/8 or ::1/128",
  );

export const managementVrfSchema = z
  .object({
    name: interfaceName.default("mgmt"),
    /** The VRF's routing table; not 253-255 (default, main, local). */
    table: z
      .number()
      .int()
      .min(1)
      .max(4294967294)
      .refine((t) => t < 253 || t > 255, "must not be 253, 254 or 255 (default, main, local)")
      .default(1000),
    /** Interfaces to enslave; their routes (default routes included) move into the VRF's table. */
    interfaces: z.array(interfaceName).min(1, "needs at least one interface"),
    /** Put the local table lookup after the l3mdev rule (pref 0 -> 32765), IPv4 and IPv6. */
    reorderLocalRule: z.boolean().default(true),
    /** Addresses on the VRF device, so local services are reachable from inside the VRF. */
    loopbackAddresses: z.array(cidr).default(["127.0.0.1/8", "::1/128"]),
    /** net.ipv4.tcp_l3mdev_accept / udp_l3mdev_accept: services in the default VRF (sshd) accept through the VRF. */
    l3mdevAccept: z
      .object({ tcp: z.boolean().default(true), udp: z.boolean().default(true) })
      .strict()
      .default({}),
    /**
     * systemd-resolved cannot serve a VRF: "disableResolved" stops and disables it and writes
     * /etc/resolv.conf with the upstream servers it used (or `nameservers`); delete restores both.
     */
    resolver: z.enum(["keep", "disableResolved"]).default("keep"),
    nameservers: z.array(z.string().regex(/^[0-9A-Fa-f.:]{2,45}$/, "must be an IP address")).optional(),
    /** Seconds the host waits for a fresh SSH connection to confirm a change before rolling it back. */
    confirmTimeout: z.number().int().min(15).max(900).default(90),
  })
  .strict();

export type ManagementVrfDesired = z.infer<typeof managementVrfSchema>;

/** The first line of every file ManagementVrf writes. */
export const HEADER = "# Managed by hosttune (ManagementVrf).";
export const sysctlPath = (d: ManagementVrfDesired) => `/etc/sysctl.d/90-hosttune-vrf-${d.name}.conf`;
