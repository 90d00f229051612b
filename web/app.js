// The export page (web/index.html): loads exported models with stock tfjs (the browser bundle),
// shows their download size, runs their test images on the cpu, wasm and webgl backends against
// the outputs Shears recorded, and times them beside the unpruned model. Everything it measured
// ends up in globalThis.shearsReport (`done: true` when finished), which the browser test reads.
// URL parameters: model, base (folders under the served directory), backends (those that run the
// test images; default cpu,wasm,webgl), time=0 (skip the timing).

const tf = globalThis.tf;
tf.wasm.setWasmPaths("/vendor/");
const BACKENDS = ["cpu", "wasm", "webgl"]; // the test images run on each
const TIMED = ["wasm", "webgl"];
const $ = (id) => document.getElementById(id);
const report = { done: false };
globalThis.shearsReport = report;

const kB = (n) => `${(n / 1024).toFixed(1)} kB`;
const pct = (v) => `${(v * 100).toFixed(2)}%`;

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function gzipSize(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/** A model folder's files, sizes and custom-layer module (registered with tf when there is one). */
async function inspect(folder) {
  const base = `/models/${folder}/`;
  const jsonBytes = await fetchBytes(`${base}model.json`);
  const json = JSON.parse(new TextDecoder().decode(jsonBytes));
  const sizes = { weights: 0, model_json: jsonBytes.byteLength, layers_js: 0 };
  sizes.model_json_gzip = await gzipSize(jsonBytes);
  sizes.weights_gzip = 0;
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const bytes = await fetchBytes(base + p);
      sizes.weights += bytes.byteLength;
      sizes.weights_gzip += await gzipSize(bytes);
    }
  }
  const module = json.userDefinedMetadata?.shears?.layersModule;
  sizes.layers_js_gzip = 0;
  if (module) {
    const bytes = await fetchBytes(base + module);
    sizes.layers_js = bytes.byteLength;
    sizes.layers_js_gzip = await gzipSize(bytes);
    (await import(base + module)).registerLayers(tf);
  }
  sizes.total_gzip = sizes.weights_gzip + sizes.model_json_gzip + sizes.layers_js_gzip;
  sizes.total = sizes.weights + sizes.model_json + sizes.layers_js;
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const quantization = specs.find((w) => w.quantization)?.quantization.dtype ?? "float32";
  return { folder, url: `${base}model.json`, sizes, quantization };
}

async function samplesOf(folder) {
  const r = await fetch(`/models/${folder}/samples.json`);
  if (!r.ok) return undefined;
  const s = await r.json();
  const bytes = await fetchBytes(`/models/${folder}/${s.inputs}`);
  return { ...s, values: new Float32Array(bytes.buffer) };
}

/** Outputs of the model at `url` on the samples, on the current backend. */
async function predict(url, samples) {
  const model = await tf.loadLayersModel(url);
  const x = tf.tensor(samples.values, samples.shape);
  const y = model.predict(x);
  const out = await y.data();
  const k = y.shape[1];
  tf.dispose([x, y]);
  model.dispose();
  return { out, k };
}

function check(out, k, samples) {
  let hits = 0, diff = 0, scale = 0;
  const predicted = [];
  samples.labels.forEach((label, i) => {
    const row = out.subarray(i * k, i * k + k);
    const p = row.indexOf(Math.max(...row));
    predicted.push(p);
    if (p === label) hits++;
    samples.expected[i].forEach((e, j) => {
      diff = Math.max(diff, Math.abs(e - row[j]));
      scale = Math.max(scale, Math.abs(e));
    });
  });
  // relative to the largest |output|, as the export's own check measures it
  const rel = diff === 0 ? 0 : diff / scale;
  return { top1: hits / samples.labels.length, max_abs_diff: diff, max_rel_diff: rel, predicted };
}

/** One predict of the sample batch through `model`, in ms, waiting for the output. */
async function once(model, x) {
  const t0 = performance.now();
  const y = model.predict(x);
  await y.data();
  y.dispose();
  return performance.now() - t0;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

/**
 * Median ms of one predict of the sample batch, for each model: in alternating rounds (each model
 * in turn, one warm-up and `runs` timed predicts), so load that comes and goes moves every model.
 */
async function time(urls, samples, rounds = 3, runs = 3) {
  const models = await Promise.all(urls.map((u) => tf.loadLayersModel(u)));
  const x = tf.tensor(samples.values, samples.shape);
  const per = models.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, m] of models.entries()) {
      await once(m, x);
      const times = [];
      for (let k = 0; k < runs; k++) times.push(await once(m, x));
      per[i].push(median(times));
    }
  }
  x.dispose();
  models.forEach((m) => m.dispose());
  return per.map(median);
}

function row(table, cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (typeof c === "object") {
      td.textContent = c.text;
      if (c.className) td.className = c.className;
      if (c.value !== undefined) td.dataset.value = String(c.value);
    } else td.textContent = c;
    tr.appendChild(td);
  }
  $(table).querySelector("tbody").appendChild(tr);
}

function drawImages(samples, predicted) {
  const [n, h, w, c] = samples.shape;
  for (let i = 0; i < Math.min(n, 16); i++) {
    const px = samples.values.subarray(i * h * w * c, (i + 1) * h * w * c);
    let lo = Infinity, hi = -Infinity;
    for (const v of px) lo = Math.min(lo, v), hi = Math.max(hi, v);
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = px[p * c + Math.min(ch, c - 1)];
        img.data[p * 4 + ch] = 255 * (v - lo) / Math.max(1e-12, hi - lo);
      }
      img.data[p * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const fig = document.createElement("figure");
    const cap = document.createElement("figcaption");
    const ok = predicted[i] === samples.labels[i];
    cap.textContent = `${predicted[i]}${ok ? "" : ` (${samples.labels[i]})`}`;
    if (!ok) cap.className = "miss";
    fig.append(canvas, cap);
    $("images").appendChild(fig);
  }
}

async function run(modelFolder, baseFolder, { backends, timed }) {
  for (const t of ["sizes", "checks", "timing"]) $(t).querySelector("tbody").replaceChildren();
  $("images").replaceChildren();
  const status = (text) => $("status").textContent = text;
  status(`loading ${modelFolder}…`);
  const model = await inspect(modelFolder);
  const base = baseFolder ? await inspect(baseFolder) : undefined;
  Object.assign(report, { model, base, checks: {}, timing: {} });
  for (const m of [model, base].filter(Boolean)) {
    const better = base && m === model && model.sizes.total_gzip < base.sizes.total_gzip;
    row("sizes", [
      `${m === model ? "model" : "unpruned"}: ${m.folder} (${m.quantization})`,
      { text: kB(m.sizes.weights), value: m.sizes.weights },
      { text: kB(m.sizes.model_json), value: m.sizes.model_json },
      { text: m.sizes.layers_js ? kB(m.sizes.layers_js) : "-", value: m.sizes.layers_js },
      { text: kB(m.sizes.total), value: m.sizes.total },
      {
        text: kB(m.sizes.total_gzip) +
          (better
            ? ` (${(base.sizes.total_gzip / model.sizes.total_gzip).toFixed(2)}x smaller)`
            : ""),
        value: m.sizes.total_gzip,
        className: better ? "better" : "",
      },
    ]);
  }
  const samples = await samplesOf(modelFolder) ?? (base && await samplesOf(baseFolder));
  if (!samples) throw new Error(`no samples.json in ${modelFolder}: export it with Shears`);
  for (const backend of backends) {
    if (!(await tf.setBackend(backend))) {
      row("checks", ["model", backend, "-", "unavailable", "-", "-"]);
      continue;
    }
    status(`running the test images on ${backend}…`);
    const { out, k } = await predict(model.url, samples);
    const c = check(out, k, samples);
    report.checks[backend] = {
      top1: c.top1,
      max_abs_diff: c.max_abs_diff,
      max_rel_diff: c.max_rel_diff,
      outputs: Array.from(out),
    };
    row("checks", [
      "model",
      backend,
      String(samples.labels.length),
      { text: pct(c.top1), value: c.top1 },
      { text: c.max_abs_diff.toExponential(2), value: c.max_abs_diff },
      { text: c.max_rel_diff.toExponential(2), value: c.max_rel_diff },
    ]);
    if (backend === "cpu") drawImages(samples, c.predicted);
  }
  for (const backend of timed ? TIMED : []) {
    if (!(await tf.setBackend(backend))) {
      report.timing[backend] = null;
      row("timing", [backend, "unavailable", "", ""]);
      continue;
    }
    status(`timing on ${backend}…`);
    const ms = await time([model.url, ...(base ? [base.url] : [])], samples);
    const speedUp = base ? ms[1] / ms[0] : undefined;
    report.timing[backend] = { model_ms: ms[0], base_ms: ms[1] ?? null, speed_up: speedUp ?? null };
    row("timing", [
      `${backend}${
        backend === "wasm"
          ? ` (${tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? "threads" : "1 thread"})`
          : ""
      }`,
      { text: ms[0].toFixed(2), value: ms[0] },
      base ? { text: ms[1].toFixed(2), value: ms[1] } : "-",
      speedUp
        ? { text: `${speedUp.toFixed(2)}x`, value: speedUp, className: speedUp > 1 ? "better" : "" }
        : "-",
    ]);
  }
  status(`done: ${modelFolder}${base ? ` vs ${baseFolder}` : ""} (tfjs ${tf.version.tfjs})`);
}

async function main() {
  const folders = await (await fetch("/api/models")).json();
  const params = new URLSearchParams(location.search);
  const pick = (id, value) => {
    for (const f of folders) $(id).add(new Option(f, f, false, f === value));
  };
  pick("model", params.get("model") ?? folders[0]);
  pick("base", params.get("base") ?? "");
  $("pick").addEventListener("submit", (e) => {
    e.preventDefault();
    location.search = new URLSearchParams({ model: $("model").value, base: $("base").value });
  });
  if (!folders.length) throw new Error("no exported models under the served directory");
  await run($("model").value, $("base").value, {
    backends: params.get("backends")?.split(",") ?? BACKENDS,
    timed: params.get("time") !== "0",
  });
}

main().then(
  () => report.done = true,
  (e) => {
    report.error = String(e?.message ?? e);
    report.done = true;
    $("status").textContent = `error: ${report.error}`;
    $("status").className = "error";
  },
);
