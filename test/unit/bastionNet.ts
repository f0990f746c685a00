// Targets reachable only through a bastion, all real sshd processes: a network namespace of
// our own, whose 127.0.0.1 has the targets' sshds (nothing outside it can reach them), and the
// bastion's sshd on the namespace's end of a veth pair, the one address this namespace (the
// root one) reaches it by. Every sshd is a child of the test process, stopped by its pid; the
// namespace (and with it the veth pair) is deleted by `stop`.
import { execFileSync } from "node:child_process";
import { type Sshd, startSshd } from "./sshd";

export interface BastionNet {
  netns: string;
  /** The bastion's address, reachable from here. */
  address: string;
  bastion: Sshd;
  /** sshds on the namespace's 127.0.0.1, one port each (free here too, so nothing here answers it). */
  targets: Sshd[];
  stop(): void;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

/** `n` targets behind one bastion. Addresses in 10.199.0.0/16, a /30 per test process. */
export async function startBastionNet(n: number): Promise<BastionNet> {
  const id = process.pid % 16_384;
  const netns = `hosttune-bastion-${process.pid}`;
  const [here, there] = [`10.199.${id >> 6}.${(id & 63) * 4 + 1}`, `10.199.${id >> 6}.${(id & 63) * 4 + 2}`];
  const veth = `htb${process.pid}`;
  const started: Sshd[] = [];
  const stop = () => {
    for (const s of started) s.stop();
    try {
      ip("netns", "del", netns);
    } catch {
      /* never made */
    }
  };
  try {
    ip("netns", "add", netns);
    ip("link", "add", veth, "type", "veth", "peer", "name", `${veth}n`, "netns", netns);
    ip("addr", "add", `${here}/30`, "dev", veth);
    ip("link", "set", veth, "up");
    ip("-n", netns, "addr", "add", `${there}/30`, "dev", `${veth}n`);
    ip("-n", netns, "link", "set", `${veth}n`, "up");
    ip("-n", netns, "link", "set", "lo", "up");
    const bastion = await startSshd("ed25519", { netns, address: there, port: 22 });
    started.push(bastion);
    for (let i = 0; i < n; i++) started.push(await startSshd("ed25519", { netns }));
    return { netns, address: there, bastion, targets: started.slice(1), stop };
  } catch (e) {
    stop();
    throw e;
  }
}
