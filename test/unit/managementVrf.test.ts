// ManagementVrf: parsing a probe captured from a lab VM (before any VRF of ours), the networkd
// files, and the planner (forward, and the full idempotent rollback the host runs by itself).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFacts } from "../../providers/core/facts";
import { rollbackScript } from "../../providers/core/steps";
import { drift, plan, renderFiles, restore, want } from "../../providers/managementVrf/plan";
import { observe } from "../../providers/managementVrf/probe";
import { managementVrfSchema } from "../../providers/managementVrf/schema";

const fixture = (name: string) => parseFacts(readFileSync(join(__dirname, "..", "fixtures", "lab", name), "utf8"));
const facts = () => fixture("managementVrf-before.txt");
const d = managementVrfSchema.parse({ interfaces: ["enp0s2"] });

describe("ManagementVrf probe", () => {
  it("parses a lab VM without our VRF", () => {
    expect(observe(facts(), d)).toEqual({
      link: null,
      slaves: [],
      owners: { enp0s2: [{ manager: "networkd", source: "/etc/systemd/network/10-lab-uplink.network" }] },
      dhcpClients: [],
      files: {
        "/etc/sysctl.d/90-hosttune-vrf-mgmt.conf": null,
        "/etc/systemd/network/50-hosttune-vrf-mgmt.netdev": null,
        "/etc/systemd/network/50-hosttune-vrf-mgmt.network": null,
        "/etc/systemd/system/hosttune-vrf-mgmt-rules.service": null,
        "/etc/systemd/network/10-lab-uplink.network.d/50-hosttune-vrf-mgmt.conf": null,
        "/etc/netplan/99-hosttune-vrf-mgmt.yaml": null,
        "/etc/systemd/network/10-netplan-mgmt.network.d/50-hosttune-vrf-mgmt.conf": null,
        "/etc/NetworkManager/system-connections/hosttune-vrf-mgmt.nmconnection": null,
        "/etc/NetworkManager/system-connections/hosttune-vrf-mgmt-enp0s2.nmconnection": null,
        "/etc/NetworkManager/conf.d/hosttune-vrf-mgmt.conf": null,
        "/etc/NetworkManager/dispatcher.d/90-hosttune-vrf-mgmt": null,
        "/etc/network/if-pre-up.d/hosttune-vrf-mgmt": null,
        "/etc/network/if-up.d/hosttune-vrf-mgmt": null,
        "/etc/dhcp/dhclient-exit-hooks.d/hosttune-vrf-mgmt": null,
        "/usr/lib/dhcpcd/dhcpcd-hooks/90-hosttune-vrf-mgmt": null,
      },
      sysctl: { tcp: "0", udp: "0" },
      localRule: { v4: [0], v6: [0] },
      l3mdevRule: { v4: [1000], v6: [1000] },
      rulesUnitEnabled: false,
      routes: [],
      // (captured before the resolver facts existed: read as "not installed")
      resolver: { resolved: "absent", resolvConf: { content: null }, upstream: [] },
    });
  });

  it("parses a fresh Debian 13 VM (no VRF yet, so no l3mdev rule; resolved active), and plans the l3mdev rule first", () => {
    const dt = managementVrfSchema.parse({ interfaces: ["enp0s2"], resolver: "disableResolved" });
    const o = observe(fixture("managementVrf-before-trixie.txt"), dt);
    expect(o).toMatchObject({
      link: null,
      localRule: { v4: [0], v6: [0] },
      l3mdevRule: { v4: [], v6: [] },
      resolver: { resolved: "active", resolvConf: { link: "../run/systemd/resolve/stub-resolv.conf" }, upstream: [] },
    });
    const t = want({ ...dt, nameservers: ["10.0.2.3"] }, o);
    expect(drift(t, o).map((x) => x.field)).toContain("IPv6 rules");
    const steps = plan(t, o, dt).map((s) => s.describe);
    expect(steps.indexOf("ensure the l3mdev rule (pref 1000)")).toBeLessThan(
      steps.indexOf("lookup local at pref 32765 (networkd, VRF mgmt)"),
    );
  });

  it("a kernel without VRF support is a clear error", () => {
    const f = { ...facts(), vrfSupport: { rc: 1, out: "modinfo: ERROR: Module vrf not found.\n" } };
    expect(() => observe(f, d)).toThrow(/this kernel has no VRF support/);
  });

  it("refuses an interface no manager configures, before any change", () => {
    const d3 = { ...d, interfaces: ["enp0s3"] };
    expect(() => want(d3, observe(facts(), d3))).toThrow(
      /interface enp0s3 is configured by no network manager that hosttune can see/,
    );
  });

  it.each([
    [{ interfaces: [] }, /at least one interface/],
    [{ interfaces: ["enp0s2"], table: 254 }, /253, 254 or 255/],
    [{ interfaces: ["enp0s2"], loopbackAddresses: ["127.0.0.1"] }, /prefix length/],
    [{ interfaces: ["enp0s2"], confirmTimeout: 5 }, /greater than or equal to 15/],
    [{ interfaces: ["eth0; reboot"] }, /interface name/],
  ])("rejects %j", (input, message) => {
    const r = managementVrfSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join("; ")).toMatch(message);
  });
});

describe("ManagementVrf planner", () => {
  const o = observe(facts(), d);

  it("renders the networkd files", () => {
    const files = renderFiles(d, o).files;
    expect(files["/etc/systemd/network/50-hosttune-vrf-mgmt.netdev"]).toContain(
      "[NetDev]\nName=mgmt\nKind=vrf\n\n[VRF]\nTable=1000\n",
    );
    expect(files["/etc/systemd/network/50-hosttune-vrf-mgmt.network"]).toContain(
      "Address=127.0.0.1/8\nAddress=::1/128\n",
    );
    expect(files["/etc/systemd/network/10-lab-uplink.network.d/50-hosttune-vrf-mgmt.conf"]).toContain(
      "[Network]\nVRF=mgmt\n",
    );
    expect(files["/etc/sysctl.d/90-hosttune-vrf-mgmt.conf"]).toContain("net.ipv4.tcp_l3mdev_accept = 1\n");
    // networkd owns the local rule (it deletes rules it does not own when it configures links).
    expect(files["/etc/systemd/network/50-hosttune-vrf-mgmt.network"]).toContain(
      "\n[RoutingPolicyRule]\nFamily=both\nPriority=32765\nTable=local\n",
    );
    const unit = files["/etc/systemd/system/hosttune-vrf-mgmt-rules.service"];
    expect(unit).toContain("ExecStartPre=-/lib/systemd/systemd-networkd-wait-online --interface=mgmt:carrier");
    expect(unit).toContain(
      "ExecStart=/bin/sh -c 'if ip -6 rule show pref 32765 table local | grep -q .; then ip -6 rule del pref 0 table local",
    );
    expect(
      renderFiles({ ...d, reorderLocalRule: false }, o).files["/etc/systemd/network/50-hosttune-vrf-mgmt.network"],
    ).not.toContain("RoutingPolicyRule");
  });

  it("plans files, sysctls, the rules unit, networkd and the local rule", () => {
    expect(plan(want(d, o), o, d).map((s) => s.describe)).toEqual([
      "write /etc/sysctl.d/90-hosttune-vrf-mgmt.conf",
      "write /etc/systemd/network/50-hosttune-vrf-mgmt.netdev",
      "write /etc/systemd/network/50-hosttune-vrf-mgmt.network",
      "write /etc/systemd/system/hosttune-vrf-mgmt-rules.service",
      "write /etc/systemd/network/10-lab-uplink.network.d/50-hosttune-vrf-mgmt.conf",
      "l3mdev accept tcp=1 udp=1",
      "enable hosttune-vrf-mgmt-rules.service",
      "networkd: create VRF mgmt (table 1000) and enslave enp0s2",
      "wait for the routes via enp0s2 in table 1000",
      "lookup local at pref 32765 (networkd, VRF mgmt)",
    ]);
  });

  it("puts back the l3mdev rule when it is missing (the kernel adds it with the first VRF only)", () => {
    const noRule = { ...o, l3mdevRule: { v4: [1000], v6: [] } };
    const steps = plan(want(d, noRule), noRule, d).map((s) => s.describe);
    expect(steps.indexOf("ensure the l3mdev rule (pref 1000)")).toBeLessThan(
      steps.indexOf("networkd: create VRF mgmt (table 1000) and enslave enp0s2"),
    );
    expect(steps.indexOf("ensure the l3mdev rule (pref 1000)")).toBeGreaterThanOrEqual(0);
  });

  it("the host's own rollback is the full sequence back to the recorded state", () => {
    const steps = plan(restore(d, o), undefined, d).map((s) => s.describe);
    expect(steps).toContain("remove /etc/systemd/network/10-lab-uplink.network.d/50-hosttune-vrf-mgmt.conf");
    expect(steps).toContain("l3mdev accept tcp=0 udp=0");
    expect(steps).toContain("delete VRF mgmt and give enp0s2 back to the main table");
    expect(steps.at(-1)).toBe("lookup local at pref 0");
  });

  // Steps run under `set -e`: a deletion of what is already gone must not fail the step.
  it("the host's own rollback succeeds on a host where what it deletes is already gone (real shell)", () => {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-vrf-"));
    mkdirSync(join(dir, "bin"));
    // Every tool succeeds, except deleting: nothing to delete.
    for (const tool of ["ip", "networkctl", "systemctl", "sysctl", "modprobe", "sleep"])
      writeFileSync(join(dir, "bin", tool), `#!/bin/sh\ncase "$*" in *del*|*disable*) exit 2;; esac\ntrue\n`, {
        mode: 0o755,
      });
    const steps = plan(restore(d, o), undefined, d).filter((s) => "run" in s);
    const r = spawnSync("sh", ["-c", rollbackScript(steps, dir).text.replaceAll("/run/hosttune", join(dir, "run"))], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` },
    });
    expect(readFileSync(join(dir, "steps"), "utf8")).toBe(steps.map((_, i) => `${i} 0\n`).join(""));
    expect(r.status).toBe(0);
  });

  it("reports no drift once converged, and names what drifted", () => {
    const t = want(d, o);
    const converged = {
      ...o,
      l3mdevRule: { v4: [1000], v6: [1000] },
      files: t.files,
      sysctl: t.sysctl,
      link: { kind: "vrf", table: 1000 },
      slaves: ["enp0s2"],
      localRule: { v4: [32765], v6: [32765] },
      rulesUnitEnabled: true,
    };
    expect(drift(t, converged)).toEqual([]);
    expect(plan(t, converged, d)).toEqual([]);
    expect(drift(t, { ...converged, slaves: [] }).map((x) => x.field)).toEqual(["enslaved interfaces"]);
    expect(drift(t, { ...converged, link: { kind: "vrf", table: 7 } })[0]).toMatchObject({
      field: "VRF link",
      asked: "vrf table 1000",
      got: "vrf table 7",
    });
  });
});

describe("ManagementVrf local rule, IPv4 and IPv6", () => {
  const o = observe(facts(), d);
  const t = want(d, o);
  const converged = {
    ...o,
    files: t.files,
    sysctl: t.sysctl,
    link: { kind: "vrf", table: 1000 },
    slaves: ["enp0s2"],
    rulesUnitEnabled: true,
    localRule: { v4: [32765], v6: [32765] },
  };
  const rules = (v4: number[], v6: number[]) => ({ ...converged, localRule: { v4, v6 } });

  it("no local rule at all (trixie after a reboot, issue 11) is drift in both families, and up repairs it through networkd", () => {
    const broken = rules([], []);
    expect(drift(t, broken)).toEqual([
      { field: "IPv4 rules", asked: "l3mdev, lookup local after l3mdev (32765), none before", got: ["1000: l3mdev"] },
      { field: "IPv6 rules", asked: "l3mdev, lookup local after l3mdev (32765), none before", got: ["1000: l3mdev"] },
    ]);
    expect(plan(t, broken, d).map((s) => s.describe)).toEqual(["lookup local at pref 32765 (networkd, VRF mgmt)"]);
  });

  it.each([
    ["IPv6 still at 0", [32765], [0, 32765], ["IPv6 rules"]],
    ["IPv6 missing", [32765], [], ["IPv6 rules"]],
    ["IPv4 before l3mdev", [500], [32765], ["IPv4 rules"]],
    ["both at 0 (no VRF yet)", [0], [0], ["IPv4 rules", "IPv6 rules"]],
  ])("%s is drift", (_, v4, v6, fields) => {
    expect(drift(t, rules(v4, v6)).map((x) => x.field)).toEqual(fields);
    expect(plan(t, rules(v4, v6), d).length).toBe(1);
  });

  it("a missing IPv6 l3mdev rule is drift and put back", () => {
    const noL3 = { ...converged, l3mdevRule: { v4: [1000], v6: [] } };
    expect(drift(t, noL3)).toEqual([
      {
        field: "IPv6 rules",
        asked: "l3mdev, lookup local after l3mdev (32765), none before",
        got: ["32765: lookup local"],
      },
    ]);
    expect(plan(t, noL3, d).map((s) => s.describe)).toEqual(["ensure the l3mdev rule (pref 1000)"]);
  });

  // The step, run by a real shell against a fake `ip` and `networkctl` that keep the rule set in a file.
  function runLocalRuleStep(networkdAdds: boolean) {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-rules-"));
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(dir, "rules"), "-4 0\n-6 0\n");
    writeFileSync(
      join(bin, "ip"),
      `#!/bin/sh
f=$1; shift 2; op=$1; pref=$3
case $op in
  show) grep -q "^$f $pref$" ${dir}/rules && echo "$pref: from all lookup local" ;;
  add) echo "$f $pref" >> ${dir}/rules ;;
  del) grep -q "^$f $pref$" ${dir}/rules || exit 2; grep -v "^$f $pref$" ${dir}/rules > ${dir}/r; mv ${dir}/r ${dir}/rules ;;
esac
`,
      { mode: 0o755 },
    );
    writeFileSync(
      join(bin, "networkctl"),
      `#!/bin/sh\necho "$@" >> ${dir}/networkctl\n${networkdAdds ? `printf -- '-4 32765\\n-6 32765\\n' >> ${dir}/rules` : ""}\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(bin, "sleep"), "#!/bin/sh\n", { mode: 0o755 });
    const step = plan(t, rules([0], [0]), d).find((x) => x.describe.startsWith("lookup local"))!;
    const r = spawnSync("sh", ["-ec", (step as { run: { text: string } }).run.text], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
    return { rc: r.status, stderr: r.stderr, rules: read("rules"), networkctl: read("networkctl") };
  }

  it("the repair asks networkd for its rule, then deletes pref 0", () => {
    expect(runLocalRuleStep(true)).toEqual({
      rc: 0,
      stderr: "",
      rules: "-4 32765\n-6 32765\n",
      networkctl: "reconfigure -- mgmt\n",
    });
  });

  // (240 polls of a fake ip: slow on a loaded machine)
  it("never deletes pref 0 while networkd has not added the rule: it fails and says so", () => {
    const r = runLocalRuleStep(false);
    expect(r.rc).toBe(1);
    expect(r.stderr).toMatch(
      /systemd-networkd did not add, within 120s, the lookup local rule \(pref 32765\) that VRF mgmt's \.network declares/,
    );
    expect(r.rules).toBe("-4 0\n-6 0\n");
  }, 120_000);
});

describe("ManagementVrf resolver handling", () => {
  const resolvedFacts = () => ({
    ...facts(),
    resolved: { rc: 0, out: "active\n" },
    resolvConf: { rc: 0, out: "link ../run/systemd/resolve/stub-resolv.conf" },
    upstream: { rc: 0, out: "192.0.2.53\n2001:db8::53\n" },
  });
  const dr = managementVrfSchema.parse({ interfaces: ["enp0s2"], resolver: "disableResolved" });

  it("reads resolved's state, the resolv.conf link and the upstream servers", () => {
    expect(observe(resolvedFacts(), dr).resolver).toEqual({
      resolved: "active",
      resolvConf: { link: "../run/systemd/resolve/stub-resolv.conf" },
      upstream: ["192.0.2.53", "2001:db8::53"],
    });
  });

  it("disables resolved and writes the upstream servers; restore relinks and re-enables", () => {
    const o = observe(resolvedFacts(), dr);
    const t = want(dr, o);
    expect(t.resolver).toEqual({
      resolved: "inactive",
      resolvConf: {
        content:
          "# Managed by hosttune (ManagementVrf). systemd-resolved cannot serve VRF mgmt.\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n",
      },
    });
    const steps = plan(t, o, dr);
    expect(steps.slice(-2).map((s) => s.describe)).toEqual([
      "stop and disable systemd-resolved",
      "write /etc/resolv.conf",
    ]);
    // resolv.conf is resolved's symlink: replacing it with a file is the point here.
    expect(steps.at(-1)).toMatchObject({ writeFile: { path: "/etc/resolv.conf", replaceLink: true } });
    const after = {
      ...o,
      resolver: { resolved: "inactive" as const, resolvConf: t.resolver!.resolvConf, upstream: [] },
    };
    // With resolved stopped its upstream list is gone: our own file keeps the servers.
    expect(want(dr, after).resolver).toEqual(t.resolver);
    expect(
      plan(restore(dr, o), after, dr)
        .map((s) => s.describe)
        .slice(-2),
    ).toEqual(["/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf", "enable and start systemd-resolved"]);
  });

  it("without any known upstream server it asks for nameservers", () => {
    const f = { ...resolvedFacts(), upstream: { rc: 0, out: "" } };
    expect(() => want(dr, observe(f, dr))).toThrow(/set managementVrf\.nameservers/);
  });

  it("keep leaves the resolver alone", () => {
    expect(want(d, observe(resolvedFacts(), d)).resolver).toBeNull();
  });
});

describe("ManagementVrf network managers", () => {
  const di = managementVrfSchema.parse({ interfaces: ["enp0s2", "up0"] });
  // A Debian 12 lab VM installed the ordinary way (lab/manager.sh ifupdown): enp0s2 static,
  // up0 by dhclient, networkd stopped.
  const ifupdownFacts = () => fixture("managementVrf-ifupdown-bookworm.txt");
  const withOwners = (f: ReturnType<typeof facts>, owners: Record<string, string>) => ({ ...f, ...owners });

  it("networkctl's n/a (networkd not running or not managing the interface) is no owner", () => {
    // What the probe read before managers were told apart (issue 24): networkctl answers without networkd.
    const f = withOwners(ifupdownFacts(), {
      networkFiles: { rc: 0, out: "enp0s2 n/a\nup0 n/a\n" },
      ifquery: { rc: 0, out: "" },
    });
    const o = observe(f, di);
    expect(o.owners).toEqual({ enp0s2: [], up0: [] });
    expect(() => want(di, o)).toThrow(
      /interface enp0s2 is configured by no network manager that hosttune can see .*configure enp0s2 with one of them first/,
    );
  });

  it("finds ifupdown owning both interfaces, and dhclient, on a Debian 12 host installed with ifupdown", () => {
    const o = observe(ifupdownFacts(), di);
    expect(o.owners).toEqual({
      enp0s2: [{ manager: "ifupdown", source: "/etc/network/interfaces" }],
      up0: [{ manager: "ifupdown", source: "/etc/network/interfaces" }],
    });
    expect(o.dhcpClients).toEqual(["dhclient"]);
  });

  it("plans ifupdown's hooks, executable, applied with ifdown and ifup, and no networkd file or unit", () => {
    const o = observe(ifupdownFacts(), di);
    const t = want(di, o);
    expect(t.manager).toBe("ifupdown");
    expect(t.modes).toEqual({
      "/etc/network/if-pre-up.d/hosttune-vrf-mgmt": "0755",
      "/etc/network/if-up.d/hosttune-vrf-mgmt": "0755",
    });
    const steps = plan(t, o, di);
    expect(steps.map((s) => s.describe)).toEqual([
      "write /etc/sysctl.d/90-hosttune-vrf-mgmt.conf",
      "write /etc/network/if-pre-up.d/hosttune-vrf-mgmt",
      "write /etc/network/if-up.d/hosttune-vrf-mgmt",
      "write /etc/dhcp/dhclient-exit-hooks.d/hosttune-vrf-mgmt",
      "l3mdev accept tcp=1 udp=1",
      "ensure the l3mdev rule (pref 1000)",
      "ifupdown: create VRF mgmt (table 1000) and enslave enp0s2, up0 (ifdown, ifup)",
      "wait for the routes via enp0s2, up0 in table 1000",
      "lookup local at pref 32765",
    ]);
    expect(steps[1]).toMatchObject({ writeFile: { mode: "0755" } });
    expect(steps[3]).not.toMatchObject({ writeFile: { mode: "0755" } });
    // The host's own rollback: every file of ours removed, ifupdown configures the interfaces anew.
    const back = plan(restore(di, o), undefined, di).map((s) => s.describe);
    expect(back).toContain("remove /etc/network/if-pre-up.d/hosttune-vrf-mgmt");
    expect(back).toContain("ifupdown: delete VRF mgmt and give enp0s2, up0 back to the main table (ifdown, ifup)");
    expect(back.at(-1)).toBe("lookup local at pref 0");
    // As the kernel's own: networkd deletes a rule it does not own at its next reconfigure, and a
    // host without a local lookup answers nothing (the VM went dark when handed back to networkd).
    const local = plan(restore(di, o), undefined, di).at(-1) as { run: { text: string } };
    expect(local.run.text).toContain("ip $f rule add pref 0 table local protocol kernel");
  });

  it("a VRF left by networkd's files on a host ifupdown now owns: networkd's files go", () => {
    const o = observe(ifupdownFacts(), di);
    const stale = "/etc/systemd/network/10-lab-uplink.network.d/50-hosttune-vrf-mgmt.conf";
    const t = want(di, { ...o, files: { ...o.files, [stale]: "[Network]\nVRF=mgmt\n" } });
    expect(t.files[stale]).toBeNull();
  });

  it.each([
    [
      "two managers at once",
      { networkFiles: { rc: 0, out: "enp0s2 /etc/systemd/network/10-lab-uplink.network\n" } },
      new RegExp(
        "interface enp0s2 is configured by 2 network managers at once: " +
          "networkd \\(/etc/systemd/network/10-lab-uplink\\.network\\) and ifupdown \\(/etc/network/interfaces\\)",
      ),
    ],
    [
      "NetworkManager with no profile it can read",
      {
        ifquery: { rc: 0, out: "" },
        nmDevices: { rc: 0, out: "\x1enm enp0s2|100 (connected)|\n\x1enm up0|100 (connected)|\n" },
      },
      new RegExp(
        "interface enp0s2: NetworkManager manages it, but hosttune cannot read the profile it has active " +
          "\\(NetworkManager \\(100 \\(connected\\), no profile active\\)\\)",
      ),
    ],
    [
      "netplan rendering to NetworkManager",
      {
        ifquery: { rc: 0, out: "" },
        nmDevices: {
          rc: 0,
          out:
            "\x1enm enp0s2|100 (connected)|/run/NetworkManager/system-connections/netplan-enp0s2.nmconnection\n[connection]\n" +
            "\x1enm up0|100 (connected)|/run/NetworkManager/system-connections/netplan-up0.nmconnection\n[connection]\n",
        },
      },
      new RegExp(
        "configured by netplan \\(/run/NetworkManager/system-connections/netplan-enp0s2\\.nmconnection\\) " +
          "rendering to NetworkManager, which hosttune cannot drive yet",
      ),
    ],
    [
      "ifupdown2",
      { ifquery: { rc: 0, out: "enp0s2 ifupdown2\nup0 ifupdown2\n" } },
      /configured by ifupdown2 \(\/etc\/network\/interfaces\), which hosttune cannot drive yet \(it drives networkd, netplan, NetworkManager, ifupdown\)/,
    ],
    [
      "one interface per manager",
      {
        ifquery: { rc: 0, out: "up0 ifupdown\n" },
        networkFiles: { rc: 0, out: "enp0s2 /etc/systemd/network/10-lab-uplink.network\n" },
      },
      /the interfaces of one VRF must share one network manager: enp0s2 is networkd \(.*\), up0 is ifupdown \(\/etc\/network\/interfaces\)/,
    ],
    [
      "NetworkManager's unmanaged and external devices are not its own",
      {
        nmDevices: { rc: 0, out: "\x1enm enp0s2|10 (unmanaged)|\n\x1enm up0|100 (connected (externally))|\n" },
      },
      null,
    ],
  ])("%s: a clear error before any change", (_, owners, message) => {
    const o = observe(withOwners(ifupdownFacts(), owners), di);
    if (message) expect(() => want(di, o)).toThrow(message);
    else expect(want(di, o).manager).toBe("ifupdown");
  });
});

// ifupdown's if-up hook in a real shell, with an `ip` that logs what it is asked and knows one
// route in the main table: what ifupdown and a DHCP client's hook make of an interface.
describe("ManagementVrf ifupdown hooks (real shell)", () => {
  const di = managementVrfSchema.parse({ interfaces: ["enp0s2", "up0"] });
  const o = observe(fixture("managementVrf-ifupdown-bookworm.txt"), di);
  const hook = want(di, o).files["/etc/network/if-up.d/hosttune-vrf-mgmt"]!;

  function runHook(env: Record<string, string>) {
    const dir = mkdtempSync(join(tmpdir(), "hosttune-ifup-"));
    mkdirSync(join(dir, "bin"));
    writeFileSync(
      join(dir, "bin", "ip"),
      `#!/bin/sh
echo "ip $*" >> ${dir}/log
case "$*" in
  "-4 route show table main dev up0") echo "default via 192.0.2.1 proto static" ;;
  *"rule add pref 32765"*) touch ${dir}/rule-$1 ;;
  *"rule show pref 32765"*) [ ! -e ${dir}/rule-$1 ] || echo "32765: from all lookup local" ;;
esac
true
`,
      { mode: 0o755 },
    );
    writeFileSync(join(dir, "hook"), hook, { mode: 0o755 });
    const r = spawnSync(join(dir, "hook"), [], {
      encoding: "utf8",
      env: { PATH: `${join(dir, "bin")}:${process.env.PATH}`, ...env },
    });
    const log = existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8") : "";
    return { rc: r.status, stderr: r.stderr, log: log.split("\n").filter(Boolean) };
  }

  it("moves what ifupdown put in the main table into the VRF's, and puts the local rule after l3mdev", () => {
    const r = runHook({ IFACE: "up0" });
    expect(r).toMatchObject({ rc: 0, stderr: "" });
    expect(r.log).toContain("ip -4 route replace default via 192.0.2.1 proto static dev up0 table 1000");
    expect(r.log).toContain("ip -4 route del default via 192.0.2.1 proto static dev up0 table main");
    expect(r.log).toContain("ip -4 rule add pref 32765 table local");
    expect(r.log).toContain("ip -6 rule del pref 0 table local");
  });

  it("adds a lease's subnet and first router to the VRF's table (a DHCP client's hook)", () => {
    const r = runHook({ IFACE: "enp0s2", SUBNET: "192.0.2.0/24", ADDR: "192.0.2.69", ROUTERS: "192.0.2.1 192.0.2.9" });
    expect(r.rc).toBe(0);
    expect(r.log).toContain("ip route replace 192.0.2.0/24 dev enp0s2 table 1000 proto dhcp scope link src 192.0.2.69");
    expect(r.log).toContain("ip route replace default via 192.0.2.1 dev enp0s2 table 1000 proto dhcp");
    expect(r.log.join("\n")).not.toContain("192.0.2.9");
  });

  it("leaves every other interface alone", () => {
    expect(runHook({ IFACE: "enp0s3", ROUTERS: "192.0.2.1" })).toEqual({ rc: 0, stderr: "", log: [] });
  });
});
