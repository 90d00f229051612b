/**
 * exportModel on models of the kind each pipeline saves (built with the
 * plugins' parts, checked on real mnist digits): stock tfjs layers only, the
 * plain-tfjs subprocess within 1e-4 of Shears, the same top-1, honest sizes;
 * quantized downloads; the loud warnings; a wrong standard form and a wrong
 * weight caught by the check, huge (diverged) logits passing it within their
 * float32 rounding, NaN outputs refused; failures that leave nothing behind.
 */
import {
  compareOutputs,
  EXPORT_ATOL,
  EXPORT_RTOL,
  exportModel,
  type ExportReport,
  gzipSize,
  initBackend,
  isUserFacing,
  NonFiniteError,
  nonFiniteOutput,
  plainTfjsOutputs,
  registerExportForm,
  registerExportModule,
  type SamplesJson,
  tf,
  UsageError,
} from "@shears/core";
import { loadDataset } from "@shears/datasets";
import { deepEqual, equal, match, ok, rejects } from "./assert.ts";
import {
  INPUT,
  modelWith,
  pipelineKinds,
  pipelineModel,
  Sine,
  Unshippable,
} from "./export_fixtures.ts";
import { withTempDir } from "../pipelines/test_harness.ts";

await initBackend((Deno.env.get("SHEARS_TEST_BACKEND") ?? "wasm") as "wasm", { quiet: true });
const data = await loadDataset("mnist", { limitTrain: 2000, limitTest: 500 });
const [samples] = [...data.batches("test", { batchSize: 64, limit: 64, shuffle: false })];
const FILES = ["model.json", "samples.bin", "samples.json", "weights.bin"];

/** Custom layers each pipeline's model has, and what the export makes of them. */
const REWRITES: Record<string, string[]> = {
  relu_taylor: ["MaskedReLU->removed", "MaskedReLU->ReLU", "MaskedReLU->PReLU"],
  magnitude: ["ChannelPadShortcut->Conv2D"],
  filter_taylor: [],
  rni: ["SigmoidBatchNorm->BatchNormalization"],
  intra_fusion: [],
};

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const samplesJson = async (dir: string): Promise<SamplesJson> =>
  JSON.parse(await Deno.readTextFile(`${dir}/samples.json`));

/** Exports `model` into `<dir>/export` (tensor count checked flat around it). */
async function exported(
  model: tf.LayersModel,
  dir: string,
  opts: Partial<Parameters<typeof exportModel>[1]> = {},
): Promise<ExportReport> {
  const before = tf.memory().numTensors;
  const r = await exportModel(model, { dir: `${dir}/export`, samples, ...opts });
  equal(tf.memory().numTensors, before, "tensors leaked");
  deepEqual(await listing(dir), ["export"], "nothing but the export beside it (no temp dir)");
  return r;
}

for (const kind of pipelineKinds) {
  Deno.test(`a ${kind} model exports to stock tfjs, within 1e-4 of Shears in plain tfjs, same top-1`, () =>
    withTempDir(async (dir) => {
      const model = await pipelineModel(kind, samples.x);
      const r = await exported(model, dir, { data });
      ok(r.verify.passed, `plain tfjs vs Shears: ${r.verify.max_abs_diff}`);
      ok(r.verify.max_abs_diff <= EXPORT_ATOL, "these small models keep within 1e-4 absolute");
      const expected = (await samplesJson(`${dir}/export`)).expected.flat();
      equal(r.verify.output_scale, Math.max(...expected.map(Math.abs)));
      equal(r.verify.max_rel_diff, r.verify.max_abs_diff / r.verify.output_scale);
      equal(r.verify.tolerance, EXPORT_ATOL + EXPORT_RTOL * r.verify.output_scale);
      equal(r.verify.images, 64);
      deepEqual(r.warnings, []);
      deepEqual(r.modules, []);
      deepEqual(
        [...new Set(r.rewritten.map((w) => `${w.from}->${w.to}`))].sort(),
        [...REWRITES[kind]].sort(),
      );
      equal(r.top1!.export, r.top1!.shears, "float32: the same top-1");
      equal(r.top1!.images, 500);
      deepEqual(await listing(`${dir}/export`), FILES);
      const size = async (f: string) => (await Deno.stat(`${dir}/export/${f}`)).size;
      equal(r.bytes.weights, await size("weights.bin"));
      equal(r.bytes.model_json, await size("model.json"));
      equal(r.bytes.total, r.bytes.weights + r.bytes.model_json);
      equal(r.bytes.weights_gzip, await gzipSize(await Deno.readFile(`${dir}/export/weights.bin`)));
      const json = JSON.parse(await Deno.readTextFile(`${dir}/export/model.json`));
      deepEqual(json.userDefinedMetadata.shears, { layersModule: null, quantize: "none" });
      model.dispose();
    }));
}

Deno.test("unstructured sparsity shows in the gzipped download, not in the raw one", () =>
  withTempDir(async (dir) => {
    const [dense, sparse] = [
      await pipelineModel("magnitude", samples.x, { unpruned: true }),
      await pipelineModel("magnitude", samples.x),
    ];
    const d = await exported(dense, `${dir}/dense`), s = await exported(sparse, `${dir}/sparse`);
    equal(s.bytes.weights, d.bytes.weights, "same shapes, same raw bytes");
    ok(d.bytes.weights_gzip > 0.85 * d.bytes.weights, "dense float32 weights hardly compress");
    const ratio = s.bytes.weights_gzip / d.bytes.weights_gzip;
    ok(ratio < 0.6, `70% of the conv weights zero: gzipped ${ratio.toFixed(3)} of the dense`);
    dense.dispose();
    sparse.dispose();
  }));

Deno.test("quantized exports: float16 halves, uint8 quarters the weights; the check reports, not judges", () =>
  withTempDir(async (dir) => {
    const model = await pipelineModel("filter_taylor", samples.x);
    const f32 = await exported(model, `${dir}/f32`);
    for (const [q, factor] of [["float16", 2], ["uint8", 4]] as const) {
      const r = await exported(model, `${dir}/${q}`, { quantize: q });
      equal(r.quantize, q);
      equal(r.bytes.weights * factor, f32.bytes.weights, `${q} weight bytes`);
      equal(r.verify.tolerance, null);
      ok(r.verify.passed && r.verify.max_abs_diff > 0, `${q}: ${r.verify.max_abs_diff}`);
      const specs = JSON.parse(await Deno.readTextFile(`${dir}/${q}/export/model.json`))
        .weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
      ok(specs.every((s) => s.quantization?.dtype === q));
    }
    model.dispose();
  }));

/**
 * An MLP trained for one epoch on 2000 digits. With `outlier`, its first
 * layer has one weight of 1e4 whose unit the next layer ignores: the float
 * model is unchanged, but one uint8 step is then 40, larger than every other weight.
 */
async function trainedMlp(outlier: boolean): Promise<tf.LayersModel> {
  const x = tf.input({ shape: [...INPUT] });
  const f = tf.layers.flatten().apply(x);
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const h = tf.layers.dense({ units: 32, activation: "relu", kernelInitializer: init(1) }).apply(f);
  const y = tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: init(2) })
    .apply(h);
  const model = tf.model({ inputs: x, outputs: y as tf.SymbolicTensor });
  model.compile({ optimizer: tf.train.adam(0.003), loss: "sparseCategoricalCrossentropy" });
  for (const b of data.batches("train", { batchSize: 64, shuffle: false })) {
    await model.trainOnBatch(b.x, b.y.toFloat());
    tf.dispose([b.x, b.y]);
  }
  model.optimizer.dispose();
  if (outlier) {
    const [d1, d2] = model.layers.filter((l) => l.getClassName() === "Dense");
    const k1 = tf.tidy(() =>
      d1.getWeights()[0].add(tf.oneHot([0], 32 * 784).reshape([784, 32]).mul(1e4))
    );
    const k2 = tf.tidy(() =>
      d2.getWeights()[0].mul(tf.tensor2d([0, ...Array(31).fill(1)], [32, 1]))
    );
    d1.setWeights([k1, d1.getWeights()[1]]);
    d2.setWeights([k2, d2.getWeights()[1]]);
    tf.dispose([k1, k2]);
  }
  return model;
}

Deno.test("float16 costs no top-1; a uint8 export that loses top-1 warns loudly (--max_drop)", () =>
  withTempDir(async (dir) => {
    const plain = await trainedMlp(false);
    const half = await exported(plain, `${dir}/half`, { quantize: "float16", data });
    ok(half.top1!.shears > 0.5, `trained: ${half.top1!.shears}`);
    ok(Math.abs(half.top1!.drop_points) <= 0.1, `float16 drop ${half.top1!.drop_points} points`);
    deepEqual(half.warnings, []);
    const skewed = await trainedMlp(true);
    const exact = await exported(skewed, `${dir}/f32`, { data });
    equal(exact.top1!.export, exact.top1!.shears);
    ok(
      Math.abs(exact.top1!.shears - half.top1!.shears) < 0.02,
      "the outlier leaves the float model",
    );
    const q = await exported(skewed, `${dir}/uint8`, { quantize: "uint8", data, maxDrop: 1 });
    ok(q.top1!.drop_points > 20, `uint8 drop ${q.top1!.drop_points}`);
    equal(q.warnings.length, 1);
    ok(
      /^the uint8 export's top-1 is [\d.]+ points below Shears' .* more than --max_drop 1$/.test(
        q.warnings[0],
      ),
      q.warnings[0],
    );
    plain.dispose();
    skewed.dispose();
  }));

Deno.test("a layer without a standard form ships layers.js, which plain tfjs loads; same outputs", () =>
  withTempDir(async (dir) => {
    const model = modelWith(new Sine({ name: "sine" }));
    const r = await exported(model, dir, { data });
    deepEqual(r.modules, ["Sine"]);
    ok(r.verify.passed, String(r.verify.max_abs_diff));
    equal(r.top1!.export, r.top1!.shears);
    deepEqual(await listing(`${dir}/export`), [...FILES, "layers.js"].sort());
    ok(
      r.bytes.layers_js > 0 &&
        r.bytes.total === r.bytes.weights + r.bytes.model_json + r.bytes.layers_js,
    );
    const json = JSON.parse(await Deno.readTextFile(`${dir}/export/model.json`));
    equal(json.userDefinedMetadata.shears.layersModule, "layers.js");
    model.dispose();
  }));

/** y = x + 1, with a deliberately wrong standard form (the identity). */
class OffByOne extends tf.layers.Layer {
  static className = "OffByOne";
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.add(Array.isArray(inputs) ? inputs[0] : inputs, 1);
  }
}
tf.serialization.registerClass(OffByOne);
registerExportForm(OffByOne.className, () => null);

Deno.test("the plain-tfjs check catches a wrong standard form: a warning, verify.passed false", () =>
  withTempDir(async (dir) => {
    const model = modelWith(new OffByOne({ name: "off" }));
    const r = await exported(model, dir);
    equal(r.verify.passed, false);
    ok(r.verify.max_abs_diff > 1e-2, String(r.verify.max_abs_diff));
    match(
      r.warnings[0],
      /^the export's outputs in plain tfjs differ from Shears' by \S+, \S+ of max \|output\| \S+ \(more than \S+ = 1e-4 \+ 1e-3 x max \|output\|\) on 64 test images$/,
    );
    model.dispose();
  }));

Deno.test("one wrong weight in an export fails the check (a median conv weight set to 0)", () =>
  withTempDir(async (dir) => {
    const model = await pipelineModel("filter_taylor", samples.x);
    const r = await exported(model, dir);
    model.dispose();
    ok(r.verify.passed);
    const out = `${dir}/export`;
    const expected = new Float32Array((await samplesJson(out)).expected.flat());
    const specs = JSON.parse(await Deno.readTextFile(`${out}/model.json`)).weightsManifest[0]
      .weights as tf.io.WeightsManifestEntry[];
    const weights = await Deno.readFile(`${out}/weights.bin`);
    const size = (s: tf.io.WeightsManifestEntry) => s.shape.reduce((a, b) => a * b, 1);
    const at = specs.findIndex((s) => s.name === "features_conv5/kernel");
    ok(at > 0, specs.map((s) => s.name).join());
    const kernel = new Float32Array(
      weights.buffer,
      specs.slice(0, at).reduce((n, s) => n + 4 * size(s), 0),
      size(specs[at]),
    );
    const order = [...kernel.keys()].filter((i) => kernel[i] !== 0)
      .sort((a, b) => Math.abs(kernel[a]) - Math.abs(kernel[b]));
    kernel[order[order.length >> 1]] = 0;
    await Deno.writeFile(`${out}/weights.bin`, weights);
    const cmp = compareOutputs((await plainTfjsOutputs(out)).outputs, expected);
    equal(cmp.within, false, `a wrong weight passed: ${JSON.stringify(cmp)}`);
    ok(
      cmp.max_rel_diff < 0.05,
      `caught at ${cmp.max_rel_diff} of the scale, not just gross errors`,
    );
  }));

Deno.test("compareOutputs: |diff| <= 1e-4 + 1e-3 * max |Shears|; non-finite or misshapen never within", () => {
  const at = (got: number[], want: number[]) => compareOutputs(got, want);
  equal(at([0.01009], [0.01]).within, true, "below the scale of 0.1 the 1e-4 decides");
  equal(at([0.0102], [0.01]).within, false);
  deepEqual(at([4e5 + 300, -2], [4e5, -2]), {
    max_abs_diff: 300,
    output_scale: 4e5,
    max_rel_diff: 300 / 4e5,
    tolerance: EXPORT_ATOL + EXPORT_RTOL * 4e5,
    within: true,
  });
  equal(at([4e5, -2 - 401], [4e5, -2]).within, false, "the bar is the largest output's, for all");
  equal(at([0, 0], [0, 0]).max_rel_diff, 0);
  for (const got of [[NaN, 1], [Infinity, 1], [1]]) equal(at(got, [1, 1]).within, false, `${got}`);
  deepEqual(nonFiniteOutput([1, 2, 3, -Infinity, NaN, 0], 3), {
    image: 1,
    output: 0,
    value: -Infinity,
    count: 2,
  });
  equal(nonFiniteOutput([1, 2], 2), undefined);
});

/** Multiplies every BatchNormalization's gamma by `gain`: each one scales the activations by it. */
function scaleGammas(model: tf.LayersModel, gain: number): void {
  for (const l of model.layers.filter((l) => l.getClassName() === "BatchNormalization")) {
    const [gamma, ...rest] = l.getWeights();
    const scaled = gamma.mul(gain);
    l.setWeights([scaled, ...rest]);
    scaled.dispose();
  }
}

Deno.test("huge (diverged-like) logits pass within their float32 rounding: the bar follows the scale", () =>
  withTempDir(async (dir) => {
    const model = await pipelineModel("filter_taylor", samples.x);
    scaleGammas(model, 5); // 8 batch norms: outputs ~4e5 times larger
    const r = await exported(model, dir);
    model.dispose();
    ok(r.verify.output_scale > 1e4, `scale ${r.verify.output_scale}`);
    ok(r.verify.max_abs_diff > EXPORT_ATOL, `${r.verify.max_abs_diff}: beyond an absolute 1e-4`);
    ok(r.verify.max_rel_diff < 1e-5, `relative diff ${r.verify.max_rel_diff}: float32 rounding`);
    ok(r.verify.passed);
    deepEqual(r.warnings, []);
  }));

Deno.test("a model whose outputs are NaN or ±Inf is refused in one line naming the first one", () =>
  withTempDir(async (dir) => {
    const model = modelWith(new Sine({ name: "sine" }));
    const fc = model.getLayer("fc");
    const [kernel, bias] = await Promise.all(fc.getWeights().map((w) => w.data()));
    const nan = kernel.slice(), inf = bias.slice();
    nan[3] = NaN; // the first feature's weight into output 3: NaN on every image
    inf[7] = Infinity;
    const before = tf.memory().numTensors;
    for (
      const [k, b, first] of [[nan, bias, "NaN at test image 0, output 3"], [
        kernel,
        inf,
        "Infinity at test image 0, output 7",
      ]] as const
    ) {
      const weights = [tf.tensor(k, [kernel.length / 10, 10]), tf.tensor(b)];
      fc.setWeights(weights);
      tf.dispose(weights);
      await rejects(() => exportModel(model, { dir: `${dir}/export`, samples }), (e: Error) => {
        ok(e instanceof NonFiniteError && isUserFacing(e), String(e));
        equal(
          e.message,
          `the model's outputs are not finite (${first} of 'fc'; 64 of 640 values NaN or ±Inf): ` +
            "a diverged model cannot be exported",
        );
        return true;
      });
    }
    equal(tf.memory().numTensors, before, "tensors leaked");
    deepEqual(await listing(dir), [], "nothing written");
    model.dispose();
  }));

/** A layer whose shipped module fails in plain tfjs (its class throws there). */
class Broken extends tf.layers.Layer {
  static className = "Broken";
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.relu(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}
tf.serialization.registerClass(Broken);
registerExportModule(
  Broken.className,
  `(tf) => class Broken extends tf.layers.Layer {
    static className = "Broken";
    call() { throw new Error("this module is broken"); }
  }`,
);

Deno.test("failures leave nothing: no standard form, a module that fails, an occupied directory", () =>
  withTempDir(async (dir) => {
    const before = tf.memory().numTensors;
    const unshippable = modelWith(new Unshippable({ name: "plus_one" }));
    await rejects(() => exportModel(unshippable, { dir: `${dir}/a`, samples }), /layer 'plus_one'/);
    const broken = modelWith(new Broken({ name: "broken" }));
    await rejects(
      () => exportModel(broken, { dir: `${dir}/b`, samples }),
      /does not load in plain tfjs: .*this module is broken/s,
    );
    deepEqual(await listing(dir), [], "no export and no temp directory");
    await Deno.mkdir(`${dir}/c`);
    await Deno.writeTextFile(`${dir}/c/keep.txt`, "mine");
    await rejects(() => exportModel(broken, { dir: `${dir}/c`, samples }), (e: Error) => {
      ok(e instanceof UsageError);
      equal(e.message, `export directory ${dir}/c already exists and is not empty; give a new one`);
      return true;
    });
    equal(await Deno.readTextFile(`${dir}/c/keep.txt`), "mine");
    unshippable.dispose();
    broken.dispose();
    equal(tf.memory().numTensors, before, "tensors leaked");
  }));

Deno.test("static: the plain-tfjs check imports nothing but @tensorflow/tfjs (the npm package)", async () => {
  const text = await Deno.readTextFile(new URL("../core/export/plain_check.ts", import.meta.url));
  const specifiers = [...text.matchAll(/\bimport\b[^"'`;]*?["'`]([^"'`]+)["'`]/g)].map((m) => m[1]);
  deepEqual(specifiers, ["@tensorflow/tfjs"], "static imports");
  ok(
    /import\(new URL\(layersModule, base\)\.href\)/.test(text),
    "the only dynamic import: the export's layers.js",
  );
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  match(config.imports["@tensorflow/tfjs"], /^npm:@tensorflow\/tfjs@/);
});
