import { z } from "zod";
import { fileName, interfaceName, notOption } from "../core/names";

export const vrfBoundSystemdUnitSchema = z
  .object({
    /** The service to run inside the VRF, e.g. ssh.service. */
    unit: z
      .string()
      .regex(/^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.service$/, "must be a systemd service name ending in .service")
      .refine(...notOption)
      // iproute2 finds a VRF's cgroup by searching for "/vrf": a unit or slice named vrf* lands
      // in the wrong cgroup and its children survive `systemctl stop`.
      .refine(
        (u) => !u.startsWith("vrf"),
        "must not start with 'vrf' (iproute2's ip vrf exec misplaces such units' cgroups)",
      ),
    /** The VRF device (a ManagementVrf's name). */
    vrf: interfaceName,
    /** now: restart the running service at once; onNextStart/never: the change applies when it next starts. */
    restart: z.enum(["now", "onNextStart", "never"]).default("now"),
    dropInName: fileName(".conf").default("50-hosttune-vrf.conf"),
    /**
     * Seconds the host waits for a fresh SSH connection to confirm a restart of the unit that
     * serves our SSH connection (sshd) before it rolls the drop-in back and restarts it again.
     */
    confirmTimeout: z.number().int().min(15).max(900).default(90),
  })
  .strict();

export type VrfBoundSystemdUnitDesired = z.infer<typeof vrfBoundSystemdUnitSchema>;

export const dropInDir = (unit: string) => `/etc/systemd/system/${unit}.d`;
