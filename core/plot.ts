/**
 * SVG charts for run reports, drawn by Vega-Lite (compiled to a Vega spec and
 * rendered headless to SVG): line charts of curves (accuracy vs. step, loss
 * vs. epoch), histograms of scores or weights, bar charts of per-layer
 * numbers.
 *
 * @example
 * ```ts
 * const svg = await lineChartSVG({
 *   title: "Accuracy vs ReLU count", xLabel: "ReLUs", yLabel: "top-1",
 *   series: [{ name: "relu_taylor", points: [[1e5, 0.93], [5e4, 0.91]] }],
 * });
 * await writeFileAtomic(`${runDir}/accuracy.svg`, svg);
 * ```
 * @module
 */
import * as vega from "vega";
import * as vl from "vega-lite";

type VlSpec = vl.TopLevelSpec;

/** Renders a Vega-Lite spec to an SVG string. */
async function render(spec: VlSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const base = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 480,
  height: 300,
  background: "white",
} as const;

/** A named curve of (x, y) points; `errors[i]`, when given, draws y ± errors[i] at point i. */
export interface Series {
  name: string;
  points: [number, number][];
  errors?: number[];
}

/**
 * A line chart, one coloured line (with point marks) per series, legend by
 * series name; vertical error bars where a series has `errors` (e.g. the
 * standard deviation over seeds).
 */
export function lineChartSVG(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic x axis (e.g. ReLU or parameter counts). */
  logX?: boolean;
}): Promise<string> {
  const values = opts.series.flatMap((s, order) =>
    s.points.map(([x, y], i) => ({
      series: s.name,
      order,
      x,
      y,
      lo: y - (s.errors?.[i] ?? 0),
      hi: y + (s.errors?.[i] ?? 0),
    }))
  );
  const encoding = {
    x: {
      field: "x",
      type: "quantitative",
      title: opts.xLabel,
      scale: opts.logX ? { type: "log" as const } : { zero: false },
    },
    y: { field: "y", type: "quantitative", title: opts.yLabel, scale: { zero: false } },
    color: {
      field: "series",
      type: "nominal",
      title: null,
      sort: opts.series.map((s) => s.name),
    },
  } as const;
  const line = { mark: { type: "line", point: true }, encoding } as const;
  if (!opts.series.some((s) => s.errors)) {
    return render({ ...base, title: opts.title, data: { values }, ...line });
  }
  const bars = {
    mark: { type: "errorbar", ticks: true },
    encoding: { ...encoding, y: { ...encoding.y, field: "lo" }, y2: { field: "hi" } },
  } as const;
  return render({ ...base, title: opts.title, data: { values }, layer: [bars, line] });
}

/** A named group of values for an overlaid histogram. */
export interface ValueGroup {
  name: string;
  values: number[];
}

/**
 * A histogram of `values` (or of several `groups`, overlaid, one colour each)
 * with about `bins` bins (default 30).
 */
export function histogramSVG(opts: {
  title: string;
  xLabel: string;
  values?: number[];
  groups?: ValueGroup[];
  bins?: number;
}): Promise<string> {
  const groups = opts.groups ?? [{ name: opts.xLabel, values: opts.values ?? [] }];
  const values = groups.flatMap((g) => g.values.map((v) => ({ group: g.name, v })));
  return render({
    ...base,
    title: opts.title,
    data: { values },
    mark: { type: "bar", opacity: groups.length > 1 ? 0.6 : 1 },
    encoding: {
      x: {
        field: "v",
        type: "quantitative",
        bin: { maxbins: opts.bins ?? 30 },
        title: opts.xLabel,
      },
      y: { aggregate: "count", type: "quantitative", title: "count", stack: null },
      ...(opts.groups ? { color: { field: "group", type: "nominal", title: null } } : {}),
    },
  });
}

/** One bar; bars sharing a `group` are drawn side by side within a label. */
export interface Bar {
  label: string;
  value: number;
  group?: string;
}

/** A vertical bar chart (e.g. kept channels per layer), labels in the given order. */
export function barChartSVG(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  bars: Bar[];
}): Promise<string> {
  const grouped = opts.bars.some((b) => b.group !== undefined);
  const groups = [...new Set(opts.bars.map((b) => b.group ?? ""))];
  return render({
    ...base,
    title: opts.title,
    data: { values: opts.bars.map((b) => ({ ...b, group: b.group ?? "" })) },
    mark: "bar",
    encoding: {
      x: {
        field: "label",
        type: "nominal",
        title: opts.xLabel,
        sort: [...new Set(opts.bars.map((b) => b.label))],
      },
      y: { field: "value", type: "quantitative", title: opts.yLabel },
      ...(grouped
        ? {
          xOffset: { field: "group", type: "nominal", sort: groups },
          color: { field: "group", type: "nominal", title: null, sort: groups },
        }
        : {}),
    },
  });
}
