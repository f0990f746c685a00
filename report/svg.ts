// Vega-Lite specs drawn as SVG in Node by Vega: no browser, no canvas, nothing fetched. The
// bench's plot and the report's histograms both go through here.

/** The SVG of a Vega-Lite spec. */
export async function svgOf(spec: object): Promise<string> {
  const vega = await import("vega");
  const vl = await import("vega-lite");
  const view = new vega.View(vega.parse(vl.compile(spec as never).spec), { renderer: "none" });
  return view.toSVG();
}
