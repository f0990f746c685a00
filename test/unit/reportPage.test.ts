// The report page as a person opens it: rendered from a fixture fleet, loaded from a file by
// headless Chromium (Debian's package), checked in the DOM the browser built and in its screenshot.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderReport } from "../../report/html";
import type { FleetReport, NapiEffect } from "../../report/model";

const fleet: FleetReport = JSON.parse(readFileSync(join(__dirname, "../fixtures/report/fleet.json"), "utf8"));

/** Chromium on this file; a loaded machine is normal, so a generous timeout. */
function chromium(profile: string, ...args: string[]): string {
  const flags = [
    ...["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", `--user-data-dir=${profile}`],
    // None of Chromium's own fetches (component updates, first-run pings): the page needs none.
    ...["--no-first-run", "--disable-background-networking", "--disable-component-update"],
  ];
  const r = spawnSync("chromium", [...flags, ...args], { encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`chromium ${args.join(" ")}: ${r.error ?? `exit ${r.status}`}\n${r.stderr}`);
  return r.stdout;
}

/** The element from `open` to its closing tag (no nesting of the same tag inside). */
function element(dom: string, open: RegExp, tag: string): string | undefined {
  const m = open.exec(dom);
  if (!m) return undefined;
  const end = dom.indexOf(`</${tag}>`, m.index);
  return end < 0 ? undefined : dom.slice(m.index, end);
}

/** The fixture rendered and opened once, on first use; without chromium, every test fails saying how to get it. */
let opened: Promise<{ dom: string; png: string }> | undefined;
function page() {
  opened ??= (async () => {
    if (spawnSync("sh", ["-c", "command -v chromium"]).status !== 0)
      throw new Error("chromium is not installed: run scripts/install-host.sh (npm test runs it first)");
    const dir = mkdtempSync(join(tmpdir(), "hosttune-report-"));
    const html = join(dir, "report.html");
    const png = join(dir, "report.png");
    writeFileSync(html, await renderReport(fleet));
    const profile = join(dir, "profile");
    chromium(profile, "--window-size=1280,2400", `--screenshot=${png}`, `file://${html}`);
    const dom = chromium(profile, "--dump-dom", `file://${html}`);
    // The page and its screenshot stay for a person to look at; the browser profile need not.
    rmSync(profile, { recursive: true, force: true });
    return { dom, png };
  })();
  return opened;
}

describe("report page (headless Chromium)", { timeout: 300_000 }, () => {
  it("draws a histogram per NIC of each reachable host, before and after where the fleet kept a change", async () => {
    const { dom } = await page();
    const reachable = fleet.hosts.filter((h) => h.reachable);
    expect(reachable.map((h) => h.name)).toEqual(["vm1", "vm2"]);
    for (const h of reachable) {
      for (const nic of h.facts!.nics) {
        const figure = element(
          dom,
          new RegExp(`<figure class="plot" data-host="${h.name}" data-device="${nic.device}"`),
          "figure",
        );
        expect(figure, `${h.name} ${nic.device}`).toBeDefined();
        const change = h.napiChange?.find((c) => c.device === nic.device);
        const shown: NapiEffect[] = change
          ? [change.before, change.after]
          : (h.napi as NapiEffect[]).filter((e) => e.device === nic.device);
        const buckets = shown.reduce((n, e) => n + Object.keys(e.histogram).length, 0);
        // Vega draws each bar as a path "M<x>,<y>h<width>v<height>h-<width>Z" in the rect marks' group.
        const bars = element(figure!, /<g class="mark-rect role-mark[^"]*"/, "g");
        expect(figure).toContain("<svg");
        const sizes = [...(bars ?? "").matchAll(/<path[^>]* d="M[^h"]*h([^v"]+)v([^h"]+)h/g)];
        expect(sizes.length, `${h.name} ${nic.device} bars`).toBeGreaterThanOrEqual(buckets);
        for (const [, w, ht] of sizes) expect(Number(w) * Number(ht)).toBeGreaterThan(0);
        expect(figure).toMatch(/of polls found no RX work/);
        if (change) expect(figure).toMatch(/<b>before<\/b>[\s\S]*<b>after<\/b>/);
      }
    }
  });

  it("says why an unreachable host could not be read, in its row and its section", async () => {
    const { dom } = await page();
    const row = element(dom, /<tr data-host="vm3"/, "tr");
    expect(row).toContain("cannot connect: ECONNREFUSED");
    expect(row).toContain("unreachable");
    expect(element(dom, /<section class="host" data-host="vm3"/, "section")).toContain("cannot connect: ECONNREFUSED");
    expect(dom).not.toMatch(/<figure class="plot" data-host="vm3"/);
  });

  it("shows the drifted resource's asked-vs-got lines in its cell", async () => {
    const { dom } = await page();
    const cell = element(dom, /<td class="state drifted" data-resource="vm1-coalesce-eni1np1"/, "td");
    expect(cell).toContain("eni1np1 (driver netdevsim) tx-frames: asked 32, got 7");
  });

  it("shows markup from a host as text: the drift line's <script> is not an element and did not run", async () => {
    const { dom } = await page();
    expect(dom).not.toMatch(/<script/i);
    expect(dom).not.toMatch(/<body[^>]*data-pwned/);
    expect(dom).toContain("&lt;script&gt;document.body.setAttribute('data-pwned','yes')&lt;/script&gt;");
  });

  it("stands alone: titled with the stack and the time, nothing to fetch", async () => {
    const { dom } = await page();
    expect(dom).toContain(`<title>hosttune report: stack ${fleet.stack}, ${fleet.generatedAt}</title>`);
    expect(dom).not.toMatch(/<link|<img|\bsrc=|\bhref=|url\(|@import/i);
  });

  it("screenshots as a 1280-wide PNG that is not blank", async () => {
    const { png } = await page();
    expect(existsSync(png)).toBe(true);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    // IHDR is the first chunk: length (4), type (4), then width and height, big-endian.
    expect(bytes.subarray(12, 16).toString("latin1")).toBe("IHDR");
    expect(bytes.readUInt32BE(16)).toBe(1280);
    // A blank page of that size compresses to a few KB; tables, text and plots do not.
    expect(bytes.length).toBeGreaterThan(100_000);
  });
});
