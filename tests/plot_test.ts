import { barChartSVG, histogramSVG, lineChartSVG } from "@shears/core";
import { deepEqual, equal, match, ok } from "./assert.ts";

/** Throws unless `svg` is one well-formed <svg> element (balanced tags, escaped text). */
function assertWellFormedSvg(svg: string): void {
  match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  ok(svg.trimEnd().endsWith("</svg>"));
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m; (m = tag.exec(svg));) {
    const text = svg.slice(last, m.index);
    ok(!/[<>]/.test(text), `stray angle bracket in text near ${m.index}: ${text.slice(0, 40)}`);
    ok(!/&(?!(amp|lt|gt|quot|apos|#\d+|#x[\da-fA-F]+);)/.test(text), `unescaped & near ${m.index}`);
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    if (selfClose) continue;
    if (close) equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else stack.push(name);
  }
  equal(svg.slice(last).trim(), "", "text after the root element");
  deepEqual(stack, [], "unclosed elements");
}

/** The aria-labels of marks with a role description (bars, points). */
function labels(svg: string, role: string): string[] {
  return [
    ...svg.matchAll(
      /<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="([^"]*)"/g,
    ),
  ]
    .filter((m) => m[2] === role).map((m) => m[1]);
}

Deno.test("lineChartSVG: valid SVG with title, axis labels, one line per series and every point", async () => {
  const svg = await lineChartSVG({
    title: "Top-1 vs ReLUs",
    xLabel: "ReLU count",
    yLabel: "top-1",
    series: [
      { name: "relu_taylor <ours> & co", points: [[100, 0.5], [200, 0.7], [300, 0.8]] },
      { name: "snl", points: [[100, 0.4], [300, 0.6]] },
    ],
  });
  assertWellFormedSvg(svg);
  for (
    const s of ["Top-1 vs ReLUs", "ReLU count", "top-1", "relu_taylor &lt;ours&gt; &amp; co", "snl"]
  ) {
    ok(svg.includes(s), `missing ${s}`);
  }
  equal((svg.match(/class="mark-line role-mark/g) ?? []).length, 2, "one line per series");
  const points = labels(svg, "point");
  equal(points.length, 5, points.join(" | "));
  ok(points.some((p) => /200/.test(p) && /0\.7/.test(p)), points.join(" | "));
});

Deno.test("histogramSVG: bins hold the right counts; groups get a legend", async () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 0.5);
  const svg = await histogramSVG({ title: "Taylor scores", xLabel: "score", values, bins: 10 });
  assertWellFormedSvg(svg);
  ok(svg.includes("Taylor scores"));
  const bars = labels(svg, "bar");
  equal(bars.length, 10, bars.join(" | "));
  ok(bars.every((b) => /count: 10$/.test(b)), bars.join(" | "));

  const grouped = await histogramSVG({
    title: "weights",
    xLabel: "|w|",
    groups: [{ name: "kept", values: [1, 2, 2, 3] }, { name: "pruned", values: [0, 0.1] }],
    bins: 5,
  });
  assertWellFormedSvg(grouped);
  ok(grouped.includes(">kept<") && grouped.includes(">pruned<"), "legend names the groups");
  const counts = labels(grouped, "bar").map((b) => Number(b.match(/count: (\d+)/)?.[1]));
  equal(counts.reduce((a, b) => a + b, 0), 6);
});

Deno.test("barChartSVG: one bar per label with its value, in order", async () => {
  const svg = await barChartSVG({
    title: "Channels kept",
    xLabel: "layer",
    yLabel: "channels",
    bars: [{ label: "conv2", value: 5 }, { label: "conv1", value: 3 }, { label: "fc", value: 9 }],
  });
  assertWellFormedSvg(svg);
  const bars = labels(svg, "bar");
  deepEqual(bars, [
    "layer: conv2; channels: 5",
    "layer: conv1; channels: 3",
    "layer: fc; channels: 9",
  ]);
});

Deno.test("barChartSVG: grouped bars sit side by side in the given group order", async () => {
  const svg = await barChartSVG({
    title: "Channels",
    xLabel: "layer",
    yLabel: "channels",
    bars: [
      { label: "conv1", value: 3, group: "before" },
      { label: "conv1", value: 2, group: "after" },
    ],
  });
  assertWellFormedSvg(svg);
  const x = [...svg.matchAll(/aria-roledescription="bar" d="M([\d.]+),/g)].map((m) => Number(m[1]));
  deepEqual(labels(svg, "bar"), [
    "layer: conv1; channels: 3; group: before",
    "layer: conv1; channels: 2; group: after",
  ]);
  ok(x[0] < x[1], `before (${x[0]}) left of after (${x[1]})`);
});
