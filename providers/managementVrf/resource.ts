import type { z } from "zod";
import { type HostArgs, hostResource } from "../core/resource";
import type { managementVrfSchema } from "./schema";
import { managementVrfSpec } from "./spec";

/** A management VRF through systemd-networkd, applied commit-confirmed so SSH is never lost. */
export const ManagementVrf = hostResource(managementVrfSpec, {
  key: "managementVrf",
  many: false,
  name: (d) => `vrf-${d.name}`,
});
export type ManagementVrf = InstanceType<typeof ManagementVrf>;
export type ManagementVrfArgs = HostArgs<z.input<typeof managementVrfSchema>>;
