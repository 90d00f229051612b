/**
 * Exported models in a real browser: headless Chromium (Debian's `chromium`)
 * opens the export page served by web/serve.ts on 127.0.0.1, which loads each
 * model with the tfjs browser bundle from the npm package and runs its test
 * images on the cpu, wasm and webgl backends; the outputs must match Shears'
 * within the export's bar, 1e-4 + 1e-3 x max |output| (cpu and wasm), a model with a custom layer too (the page
 * imports its layers.js and calls registerLayers(tf), as the README says). Then the page compares a pruned model with the
 * unpruned one: a screenshot is taken and its figures are checked against the
 * files and the outputs.
 *
 * Runs only with SHEARS_TEST_BROWSER=1, in a `deno test` process of its own
 * (as .ci/run does), because it starts a browser and a server:
 *
 *   SHEARS_TEST_BROWSER=1 deno test -A tests/export_browser_test.ts
 *
 * SHEARS_SCREENSHOT=path.png keeps the screenshot.
 */
import { decode as decodePng } from "fast-png";
import {
  compareOutputs,
  exportModel,
  gzipSize,
  initBackend,
  maxAbsDiff,
  type Quantization,
  tf,
} from "@shears/core";
import { loadDataset } from "@shears/datasets";
import { equal, match, ok } from "./assert.ts";
import { hasChromium, launchChromium } from "./chromium.ts";
import {
  modelWith,
  type PipelineKind,
  pipelineKinds,
  pipelineModel,
  Sine,
} from "./export_fixtures.ts";

const wanted = Deno.env.get("SHEARS_TEST_BROWSER") === "1";
const ignore = !wanted || !hasChromium();
const why = wanted ? "no /usr/bin/chromium" : "set SHEARS_TEST_BROWSER=1";
const repo = new URL("..", import.meta.url).pathname;

/** What one page load measured (web/app.js's globalThis.shearsReport). */
interface PageReport {
  done: boolean;
  error?: string;
  model: { sizes: Record<string, number>; quantization: string };
  base?: { sizes: Record<string, number>; quantization: string };
  checks: Record<
    string,
    { top1: number; max_abs_diff: number; max_rel_diff: number; outputs: number[] }
  >;
  timing: Record<
    string,
    { model_ms: number; base_ms: number | null; speed_up: number | null } | null
  >;
}

/** Starts `deno task serve root --port 0` as a user would; resolves with its address. */
async function serve(root: string) {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-net=127.0.0.1", "web/serve.ts", root, "--port", "0"],
    cwd: repo,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server stopped: ${text}`);
    text += value;
  }
  const url = text.match(/serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/)![1];
  return {
    url,
    async close() {
      proc.kill();
      await reader.cancel();
      await proc.status;
    },
  };
}

const shearsOutputs = async (model: tf.LayersModel, x: tf.Tensor) => {
  const y = model.predict(x) as tf.Tensor;
  const v = await y.data() as Float32Array;
  y.dispose();
  return v;
};

const top1 = (out: ArrayLike<number>, labels: number[]) => {
  const k = out.length / labels.length;
  return labels.filter((l, i) => {
    const row = Array.from(out).slice(i * k, i * k + k);
    return row.indexOf(Math.max(...row)) === l;
  }).length / labels.length;
};

Deno.test({
  name: `exported models in headless Chromium match Shears; the page shows what pruning bought (${
    ignore ? why : "chromium"
  })`,
  ignore,
  fn: async (t) => {
    await initBackend("wasm", { quiet: true });
    const data = await loadDataset("mnist", { limitTrain: 64, limitTest: 64 });
    const [samples] = [...data.batches("test", { batchSize: 64, shuffle: false })];
    const labels = Array.from(await samples.y.data());
    const root = await Deno.makeTempDir({ prefix: "shears_browser_test_" });
    const expected = new Map<string, Float32Array>();
    const exports: [string, PipelineKind | "sine", boolean, Quantization?][] = [
      ...pipelineKinds.map((k) => [`${k}/export`, k, false] as [string, PipelineKind, boolean]),
      ["filter_taylor_unpruned/export", "filter_taylor", true],
      ["magnitude/export_float16", "magnitude", false, "float16"],
      ["sine/export", "sine", false], // a custom layer shipped in layers.js
    ];
    for (const [folder, kind, unpruned, quantize] of exports) {
      const model = kind === "sine"
        ? modelWith(new Sine({ name: "sine" }))
        : await pipelineModel(kind, samples.x, { unpruned });
      expected.set(folder, await shearsOutputs(model, samples.x));
      await exportModel(model, { dir: `${root}/${folder}`, samples, quantize });
      model.dispose();
    }
    const server = await serve(root);
    const browser = await launchChromium();
    const load = async (query: string): Promise<PageReport> => {
      await browser.open(`${server.url}?${query}`);
      await browser.waitFor("globalThis.shearsReport?.done", 240_000);
      const r = await browser.evaluate<PageReport>("globalThis.shearsReport");
      ok(!r.error, `${query}: ${r.error}\n${browser.console.join("\n")}`);
      return r;
    };
    try {
      for (const [folder, , , quantize] of exports) {
        await t.step(`${folder}: the page's outputs on wasm = Shears'`, async () => {
          const r = await load(`model=${folder}&backends=wasm&time=0`);
          const shipped = (await Deno.stat(`${root}/${folder}/layers.js`).catch(() =>
            null
          ))?.size ?? 0;
          equal(
            r.model.sizes.layers_js,
            shipped,
            "layers.js fetched (and registered) where shipped",
          );
          const want = expected.get(folder)!;
          for (const backend of ["wasm"]) {
            const c = r.checks[backend];
            ok(c, `${backend} ran`);
            const diff = maxAbsDiff(c.outputs, want);
            const { within, max_rel_diff } = compareOutputs(c.outputs, want);
            ok(quantize ? diff < 0.05 : within, `${backend}: max |diff| ${diff}`);
            ok(Math.abs(diff - c.max_abs_diff) <= 1e-6, "the page's own figure agrees");
            ok(Math.abs(max_rel_diff - c.max_rel_diff) <= 1e-9, "so does its relative one");
            if (!quantize) equal(c.top1, top1(want, labels), `${backend} top-1 on the samples`);
          }
        });
      }

      await t.step(
        "the page: pruned vs unpruned, sizes from the files, timings on wasm and webgl",
        async () => {
          const r = await load("model=filter_taylor/export&base=filter_taylor_unpruned/export");
          const want = expected.get("filter_taylor/export")!;
          for (const backend of ["cpu", "wasm"]) {
            ok(compareOutputs(r.checks[backend].outputs, want).within, backend);
          }
          const webgl = r.checks.webgl; // SwiftShader here; GPUs may compute in float16
          if (webgl) ok(maxAbsDiff(webgl.outputs, want) < 1e-3, `webgl ${webgl.max_abs_diff}`);
          const png = await browser.screenshot();
          const keep = Deno.env.get("SHEARS_SCREENSHOT");
          if (keep) await Deno.writeFile(keep, png);
          const img = decodePng(png);
          ok(img.width >= 1000 && img.height >= 800, `${img.width}x${img.height}`);
          const colours = new Set<number>();
          for (let i = 0; i < img.data.length; i += img.channels * 97) colours.add(img.data[i]);
          ok(colours.size > 20, "the screenshot shows more than a blank page");

          for (
            const [side, folder] of [["model", "filter_taylor"], [
              "base",
              "filter_taylor_unpruned",
            ]] as const
          ) {
            const sizes = r[side]!.sizes;
            const file = (f: string) => Deno.readFile(`${root}/${folder}/export/${f}`);
            const [json, weights] = [await file("model.json"), await file("weights.bin")];
            equal(sizes.weights, weights.byteLength, `${side} weights`);
            equal(sizes.model_json, json.byteLength, `${side} model.json`);
            equal(sizes.total, weights.byteLength + json.byteLength);
            for (const [what, bytes] of [["model_json", json], ["weights", weights]] as const) {
              const [page, deno] = [sizes[`${what}_gzip`], await gzipSize(bytes)];
              ok(
                Math.abs(page - deno) <= 0.01 * deno + 32,
                `${side} ${what} gzipped ${page} vs ${deno}`,
              );
            }
            equal(sizes.total_gzip, sizes.model_json_gzip + sizes.weights_gzip);
            equal(r[side]!.quantization, "float32");
          }
          ok(r.model.sizes.total < r.base!.sizes.total, "8 filters fewer: a smaller download");
          const cells = await browser.evaluate<string[][]>(
            `[...document.querySelectorAll("#sizes tbody tr")].map((tr) =>
            [...tr.querySelectorAll("td")].map((td) => td.dataset.value ?? td.textContent))`,
          );
          equal(cells.length, 2);
          equal(Number(cells[0][1]), r.model.sizes.weights, "the table shows the measured bytes");
          equal(Number(cells[1][5]), r.base!.sizes.total_gzip);
          const text = await browser.evaluate<string>(`document.querySelector("#sizes").innerText`);
          match(text, new RegExp(`${(r.model.sizes.weights / 1024).toFixed(1)} kB`));
          match(text, /\d\.\d\dx smaller/);

          const wasm = r.timing.wasm!;
          ok(wasm.model_ms > 0 && wasm.base_ms! > 0, JSON.stringify(wasm));
          ok(Math.abs(wasm.speed_up! - wasm.base_ms! / wasm.model_ms) < 1e-9);
          const rows = await browser.evaluate<string[]>(
            `[...document.querySelectorAll("#timing tbody tr")].map((tr) => tr.innerText)`,
          );
          equal(rows.length, 2, "a row per timed backend");
          match(
            rows[0],
            new RegExp(
              `^wasm.*${wasm.model_ms.toFixed(2)}\\s+${wasm.base_ms!.toFixed(2)}\\s+${
                wasm.speed_up!.toFixed(2)
              }x`,
            ),
          );
          const gl = r.timing.webgl;
          if (gl) ok(gl.model_ms > 0 && gl.base_ms! > 0, JSON.stringify(gl));
          else match(rows[1], /^webgl\s+unavailable/);
          const status = await browser.evaluate<string>(
            `document.getElementById("status").textContent`,
          );
          match(
            status,
            /^done: filter_taylor\/export vs filter_taylor_unpruned\/export \(tfjs 4\.22\.0\)$/,
          );
        },
      );
    } finally {
      await browser.close();
      await server.close();
      await Deno.remove(root, { recursive: true });
      tf.dispose([samples.x, samples.y]);
    }
  },
});
