/**
 * Renders a Vega-Lite chart to SVG in Node, without a browser or a canvas: Vega-Lite compiles
 * the spec to Vega, and a headless Vega View (renderer 'none') writes the scene as SVG.
 * Text widths are estimated from the font size (vega's estimate), never measured on a canvas,
 * so the output is the same with or without node-canvas installed. vega and vega-lite are
 * loaded on the first call only, so importing hydranet does not load them.
 */
import type { ChartSpec } from './charts.js';

type Vega = typeof import('vega');
type VegaLite = typeof import('vega-lite');

let libraries: Promise<{ vega: Vega; vl: VegaLite }> | null = null;

function load(): Promise<{ vega: Vega; vl: VegaLite }> {
  libraries ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => {
    // Estimated text widths: no canvas needed, and the same SVG on every machine.
    (vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false);
    return { vega, vl };
  });
  return libraries;
}

/** The look shared by every chart of a report. */
const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  range: { category: { scheme: 'tableau10' } },
};

/**
 * The SVG text of a Vega-Lite chart (its data inline). Rejects when the spec does not compile
 * or render (the message names the cause).
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const { vega, vl } = await load();
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, ...spec } as never).spec;
  // No loader is needed (the data is inline); this one refuses any URL, so rendering never reaches the network.
  const loader = vega.loader();
  loader.load = (uri: string): Promise<string> => Promise.reject(new Error(`a report chart may not load ${uri}`));
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
