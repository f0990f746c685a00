// The fleet bench's plot: median wall time against hosts, one line per contender, a panel per
// operation and round-trip time, drawn by Vega-Lite and rendered to SVG by Vega (no browser).
import { svgOf } from "../report/svg";
import type { Run } from "./fleet";

export async function plotFleet(results: Run[]): Promise<string> {
  return svgOf({
    data: { values: results.map((r) => ({ ...r, panel: `${r.op}, RTT ${r.latencyMs} ms` })) },
    facet: { column: { field: "panel", type: "nominal", title: null, sort: "descending" } },
    spec: {
      width: 260,
      height: 220,
      layer: [
        {
          mark: { type: "line", point: true },
          encoding: {
            x: { field: "hosts", type: "quantitative", title: "hosts" },
            y: {
              aggregate: "median",
              field: "seconds",
              type: "quantitative",
              title: "wall time, median (s), log scale",
              scale: { type: "log" },
            },
            color: { field: "contender", type: "nominal", legend: { labelLimit: 400 } },
          },
        },
        {
          mark: { type: "rule" },
          encoding: {
            x: { field: "hosts", type: "quantitative" },
            y: { aggregate: "min", field: "seconds", type: "quantitative" },
            y2: { aggregate: "max", field: "seconds" },
            color: { field: "contender", type: "nominal" },
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  });
}
