// Compiled by test/unit/types.test.ts (tsc --noEmit): the connection a user gives
// @pulumi/command's remote.Command is accepted as it is by every hosttune resource, and the
// arguments are the schemas' input types.
import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { DefaultQdisc, HostTuning, ManagementVrf, UdevRule, type ConnectionArgs, type ProxyArgs } from "../../lib";

declare const commandConnection: command.types.input.remote.ConnectionArgs;
declare const output: pulumi.Output<command.types.input.remote.ConnectionArgs>;

new DefaultQdisc("q", { connection: commandConnection, qdisc: "fq" });
new UdevRule("r", { connection: output, fileName: "90-x.rules", content: "" });
// Fields the README and the schema have (resolver, nameservers) are in the arguments.
new ManagementVrf("v", {
  connection: commandConnection,
  interfaces: ["eth0"],
  resolver: "disableResolved",
  nameservers: ["10.0.0.1"],
});
new HostTuning("h", { connection: commandConnection, tuning: { defaultQdisc: { qdisc: "noqueue" }, udevRules: [] } });
// hosttune's additions ride on the same object.
const extended: ConnectionArgs = {
  ...commandConnection,
  knownHostsFile: "~/.ssh/known_hosts",
  sudoPassword: pulumi.secret("x"),
};
new DefaultQdisc("q2", { connection: extended, qdisc: pulumi.output("fq" as const) });

// A bastion: @pulumi/command's ProxyConnection, with hosttune's additions and secrets as Outputs.
declare const commandProxy: command.types.input.remote.ProxyConnectionArgs;
const behind: ConnectionArgs = {
  host: "10.0.0.5",
  privateKeyPath: "~/.ssh/fleet",
  proxy: { ...commandProxy, knownHostsFile: "~/.ssh/known_hosts", privateKeyPath: "~/.ssh/bastion", passwordEnv: "B" },
};
new DefaultQdisc("q3", { connection: behind, qdisc: "fq" });
const proxy: ProxyArgs = { host: "bastion", password: pulumi.secret("x"), privateKey: pulumi.secret("k") };
new DefaultQdisc("q4", {
  connection: { host: "web1", sshConfig: true, agentSocketPath: "/run/a", proxy },
  qdisc: "fq",
});
new DefaultQdisc("q5", { connection: { host: "web1", sshConfig: "~/.ssh/config.d/fleet" }, qdisc: "fq" });

// @ts-expect-error a bastion needs a host
new DefaultQdisc("bad3", { connection: { host: "h", proxy: { user: "root" } }, qdisc: "fq" });
// @ts-expect-error sudo is the target's, not the bastion's
new DefaultQdisc("bad4", { connection: { host: "h", proxy: { host: "b", sudoPassword: "x" } }, qdisc: "fq" });
// @ts-expect-error sshConfig is true or a path
new DefaultQdisc("bad5", { connection: { host: "h", sshConfig: false }, qdisc: "fq" });
// @ts-expect-error an unknown qdisc is a type error
new DefaultQdisc("bad", { connection: commandConnection, qdisc: "fqq" });
// @ts-expect-error an unknown tuning key is a type error
new HostTuning("bad", { connection: commandConnection, tuning: { defaultQdsic: { qdisc: "fq" } } });
// @ts-expect-error a connection needs a host
new DefaultQdisc("bad2", { connection: { user: "root" }, qdisc: "fq" });
