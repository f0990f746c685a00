// The fleet report as one HTML page: everything inline (CSS, SVG plots), nothing fetched, so it
// can be mailed or archived as a single file. Every string from the report comes from hosts and
// is escaped; the plots carry numbers and our own labels only.
import type { CannotMeasure, FleetReport, HostReport, NapiEffect, ResourceState } from "./model";
import { svgOf } from "./svg";

export async function renderReport(r: FleetReport): Promise<string> {
  const title = `hosttune report: stack ${r.stack}, ${r.generatedAt}`;
  const sections = await Promise.all(r.hosts.map(hostSection));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>${css}</style>
</head>
<body>
<h1>hosttune report</h1>
<p class="sub">stack <b>${esc(r.stack)}</b>,
generated <time datetime="${esc(r.generatedAt)}">${esc(r.generatedAt)}</time></p>
<h2>Fleet</h2>
${fleetTable(r.hosts)}
<h2>How to read the plots</h2>
<p class="how">Each plot counts the NIC's napi_poll calls by the RX work each one did (packets, up to the budget
of 64: a poll at 64 left work waiting). The 0 bucket counts polls that found no RX work: mostly TX completions
woken by interrupts. A good TX coalescing setting lowers the zero-work share and the interrupts per second without
raising latency beyond what the workload tolerates. The polls axis is on a symlog scale (0, 1, 10, 100...), so the
tail stays visible beside the 0 bucket.</p>
${sections.join("\n")}
</body>
</html>
`;
}

/** Hosts by resources: a column per resource name less its host's prefix ("coalesce-enp0s3"). */
function fleetTable(hosts: HostReport[]): string {
  const short = (h: HostReport, res: ResourceState) =>
    res.name.startsWith(`${h.name}-`) ? res.name.slice(h.name.length + 1) : res.name;
  const columns = [...new Set(hosts.flatMap((h) => h.resources.map((res) => short(h, res))))];
  const rows = hosts.map((h) => {
    const byColumn = new Map(h.resources.map((res) => [short(h, res), res]));
    const cells = columns.map((c) => {
      const res = byColumn.get(c);
      if (!res) return `<td class="state none">not managed</td>`;
      const drift = res.drift.length
        ? `<ul class="drift">${res.drift.map((d) => `<li>${esc(d)}</li>`).join("")}</ul>`
        : "";
      const label = `<b>${stateLabel[res.state] ?? esc(res.state)}</b>`;
      return `<td class="state ${esc(res.state)}" data-resource="${esc(res.name)}">${label}${drift}</td>`;
    });
    const why = h.reachable ? "" : `<div class="why">${esc(h.error ?? "unreachable")}</div>`;
    const head = `<th scope="row">${esc(h.name)}<div class="addr">${esc(h.address)}</div>${why}</th>`;
    const reach = h.reachable ? "reachable" : "unreachable";
    return `<tr data-host="${esc(h.name)}" class="${reach}">${head}${cells.join("")}</tr>`;
  });
  return `<table class="fleet">
<thead><tr><th>host</th>${columns.map((c) => `<th scope="col">${esc(c)}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

const stateLabel: Record<ResourceState["state"], string> = {
  "in-sync": "in sync",
  drifted: "drifted",
  unreachable: "unreachable",
  unknown: "unknown",
};

async function hostSection(h: HostReport): Promise<string> {
  const head = `<section class="host" data-host="${esc(h.name)}">
<h2>${esc(h.name)} <span class="addr">${esc(h.address)}</span></h2>`;
  if (!h.reachable) return `${head}\n<p class="why">unreachable: ${esc(h.error ?? "")}</p>\n</section>`;
  return `${head}
${h.facts ? facts(h.facts) : `<p class="muted">no facts read</p>`}
<h3>napi_poll per NIC</h3>
${await napiPlots(h)}
<h3>Stolen CPU</h3>
${stolen(h.stolen)}
</section>`;
}

function facts(f: NonNullable<HostReport["facts"]>): string {
  const nics = f.nics.map((n) => [n.device, n.driver, n.coalescingKeys.join(", ") || "none"]);
  const vrfs = f.vrfMembers.map((m) => [m.unit, m.vrf || "none"]);
  const tables = [
    table("System", null, [
      ["kernel", f.kernel],
      ["systemd", f.systemd],
    ]),
    table("NICs", ["device", "driver", "coalescing keys"], nics),
    table("Root qdiscs", ["device", "qdisc"], Object.entries(f.qdiscs)),
    table("VRF of bound units", ["unit", "VRF"], vrfs),
    table("IO schedulers", ["disk", "scheduler"], Object.entries(f.schedulers)),
  ];
  return `<div class="facts">\n${tables.join("\n")}\n</div>`;
}

/** A small table of facts; without a head row, the first column names each row. */
function table(caption: string, head: string[] | null, rows: string[][]): string {
  const thead = head ? `<thead><tr>${head.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead>` : "";
  const cell = (c: string, i: number) => (!head && i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`);
  const body = rows.length
    ? rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")
    : `<tr><td colspan="${head?.length ?? 2}" class="muted">none</td></tr>`;
  return `<table class="fact"><caption>${esc(caption)}</caption>${thead}<tbody>${body}</tbody></table>`;
}

/** One figure per NIC: before vs after where NicCoalescing kept its last change, else now. */
async function napiPlots(h: HostReport): Promise<string> {
  const now = isCannot(h.napi) ? [] : (h.napi ?? []);
  const changes = h.napiChange ?? [];
  const devices = [...new Set([...now.map((e) => e.device), ...changes.map((c) => c.device)])];
  const figures = await Promise.all(
    devices.map((device) => {
      const change = changes.find((c) => c.device === device);
      const current = now.find((e) => e.device === device);
      // A kept change is what the plot shows; the measurement of now goes under it as text.
      if (change) return figure(h.name, device, { before: change.before, after: change.after }, current);
      return figure(h.name, device, { now: current! });
    }),
  );
  const cannot = isCannot(h.napi) ? `<p class="cannot">${esc(h.napi.cannotMeasure)}</p>` : "";
  const none = !cannot && !figures.length ? `<p class="muted">no NIC measured</p>` : "";
  return `${cannot}${none}<div class="plots">${figures.join("\n")}</div>`;
}

async function figure(host: string, device: string, plotted: Record<string, NapiEffect>, now?: NapiEffect) {
  const series = Object.entries(plotted);
  const paired = series.length > 1;
  const values = series.flatMap(([when, e]) =>
    Object.entries(e.histogram).map(([work, polls]) => ({ when, work: Number(work), polls })),
  );
  // Symlog draws a 0 bar; its own ticks crowd at the top, so powers of ten instead.
  const { source, windowSeconds } = series[0][1];
  const caption = `<figcaption><div class="dev">${esc(device)}
<span class="muted">${esc(source)}, ${num(windowSeconds, 1)} s window</span></div>`;
  const lines = Object.entries({ ...plotted, ...(now && { now }) }).map(
    ([when, e]) => `<li><b>${when}</b>: ${summary(e)}</li>`,
  );
  // A NIC without traffic in the window: nothing to draw (and an empty axis is not a plot).
  if (!values.length)
    return `<figure class="plot empty" data-host="${esc(host)}" data-device="${esc(device)}">
<p class="muted">no napi_poll on this NIC in the window (no traffic?)</p>
${caption}<ul>${lines.join("")}</ul></figcaption>
</figure>`;
  const top = Math.max(1, ...values.map((v) => v.polls));
  const ticks = [0, ...Array.from({ length: Math.floor(Math.log10(top)) + 1 }, (_, i) => 10 ** i)];
  const width = 460;
  const svg = await svgOf({
    width,
    height: 180,
    data: { values },
    mark: "bar",
    encoding: {
      // Ordinal on numbers: buckets in numeric order, only those the tracer saw.
      x: {
        field: "work",
        type: "ordinal",
        title: "RX work per poll (packets)",
        axis: {
          labelAngle: 0,
          values: workLabels(
            values.map((v) => v.work),
            width,
          ),
        },
      },
      y: {
        field: "polls",
        type: "quantitative",
        title: "polls (symlog scale)",
        scale: { type: "symlog" },
        axis: { values: ticks, labelExpr: "format(datum.value, ',')" },
      },
      ...(paired
        ? {
            xOffset: { field: "when", sort: ["before", "after"] },
            color: {
              field: "when",
              sort: ["before", "after"],
              scale: { range: ["#a0a7b0", "#2f6db3"] },
              legend: { title: null, orient: "top", direction: "horizontal" },
            },
          }
        : { color: { value: "#2f6db3" } }),
    },
    config: { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 } },
  });
  return `<figure class="plot" data-host="${esc(host)}" data-device="${esc(device)}">
${svg}
${caption}<ul>${lines.join("")}</ul></figcaption>
</figure>`;
}

/** Work values to label: every bucket where there is room, else every step-th, and always the last (mostly 64). */
function workLabels(works: number[], width: number): number[] {
  const sorted = [...new Set(works)].sort((a, b) => a - b);
  const step = Math.ceil(sorted.length / Math.floor(width / 18));
  return [...sorted.filter((_, i) => i % step === 0 && sorted.length - 1 - i >= step), sorted[sorted.length - 1]];
}

function summary(e: NapiEffect): string {
  const zero = e.zeroWorkShare === null ? "no polls" : `<b>${pct(e.zeroWorkShare)}</b> of polls found no RX work`;
  const irqs = e.irqsPerSecond === null ? "no IRQ of its own" : `${num(e.irqsPerSecond)} IRQs/s`;
  return `${zero}; ${num(e.pollsPerSecond)} polls/s, ${irqs}; ${esc(coalescing(e.coalescing))}`;
}

/** The values that do something (ethtool lists every key the driver has, mostly 0 and off). */
function coalescing(c: NapiEffect["coalescing"]): string {
  const set = Object.entries(c).filter(([, v]) => v !== 0 && v !== false && v !== "");
  const shown = set.map(([k, v]) => `${k} ${v === true ? "on" : v}`).join(", ") || "all 0/off";
  return set.length && set.length < Object.keys(c).length ? `${shown} (others 0/off)` : shown;
}

function stolen(s: HostReport["stolen"]): string {
  if (!s) return `<p class="muted">not measured</p>`;
  if (isCannot(s)) return `<p class="cannot">${esc(s.cannotMeasure)}</p>`;
  return `<p><b>${pct(s.stolenShare)}</b> of a pinned process's time on CPU ${num(s.cpu)} went to the kernel over
${num(s.seconds, 1)} s (user ${num(s.userSeconds, 2)} s, system ${num(s.systemSeconds, 2)} s).</p>`;
}

function isCannot(x: unknown): x is CannotMeasure {
  return typeof x === "object" && x !== null && "cannotMeasure" in x;
}

// Number(): a field that is not a number (a bad collector, a hostile host) prints as NaN, never as markup.
const num = (n: number, digits = 0) => Number(n).toLocaleString("en-US", { maximumFractionDigits: digits });
const pct = (share: number) => `${num(share * 100, 1)}%`;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const css = `
body { font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; color: #1d2329; margin: 24px 32px; background: #fff; }
h1 { font-size: 24px; margin: 0; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #d5dae0; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { margin: 2px 0 0; color: #4a545e; }
.muted, .addr { color: #6b7580; font-weight: normal; font-size: 12px; }
.how { max-width: 1120px; margin: 4px 0; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border: 1px solid #d5dae0; }
thead th { background: #f2f4f6; font-weight: 600; font-size: 12px; }
table.fleet th[scope=row] { white-space: nowrap; }
table.fleet td { min-width: 6em; max-width: 22em; overflow-wrap: anywhere; font-size: 12px; }
td.in-sync { background: #e3f4e6; color: #1c5e2b; }
td.drifted { background: #fff1cc; color: #6e4a00; }
td.unreachable { background: #eceef0; color: #8c2420; }
td.unknown, td.none { background: #f6f7f8; color: #6b7580; }
ul.drift { margin: 4px 0 0; padding-left: 14px; font-family: "DejaVu Sans Mono", monospace; font-size: 11px; }
tr.unreachable th { background: #fbeaea; }
.why { color: #a12622; font-weight: 600; font-size: 12px; }
.cannot { color: #8c2420; }
.facts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
table.fact caption { text-align: left; font-weight: 600; padding-bottom: 3px; }
table.fact td { font-size: 12px; max-width: 26em; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure.plot { width: min-content; margin: 0; padding: 8px; border: 1px solid #d5dae0; border-radius: 4px; }
figure.plot svg { display: block; }
figcaption { font-size: 12px; }
figcaption .dev { font-weight: 600; font-size: 13px; }
figcaption ul { margin: 2px 0 0; padding-left: 16px; }
`;
