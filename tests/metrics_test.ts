import {
  accuracy,
  type Batch,
  compareLatency,
  countMacs,
  countParams,
  countRelus,
  type Dataset,
  latency,
  layerTable,
  MaskedReLU,
  sizeOnDisk,
  tf,
} from "@shears/core";
import { allClose, deepEqual, equal, ok } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const sym = (l: tf.layers.Layer, x: tf.SymbolicTensor) => l.apply(x) as tf.SymbolicTensor;

/**
 * [6,6,2] -> conv 3x3 valid, 3 filters, bias -> BN -> ReLU -> depthwise 3x3 same x2, no bias
 * -> MaskedReLU -> conv 1x1 stride 2 same, 2 filters, no bias -> flatten -> dense 5 relu -> dense 4
 */
function handModel(): { model: tf.LayersModel; mrelu: MaskedReLU } {
  const x = tf.input({ shape: [6, 6, 2] });
  let h = sym(tf.layers.conv2d({ filters: 3, kernelSize: 3, name: "conv" }), x);
  h = sym(tf.layers.batchNormalization({ name: "bn" }), h);
  h = sym(tf.layers.reLU({ name: "relu" }), h);
  h = sym(
    tf.layers.depthwiseConv2d({
      kernelSize: 3,
      depthMultiplier: 2,
      padding: "same",
      useBias: false,
      name: "dw",
    }),
    h,
  );
  const mrelu = new MaskedReLU({ name: "mrelu" });
  h = sym(mrelu, h);
  h = sym(
    tf.layers.conv2d({ filters: 2, kernelSize: 1, strides: 2, useBias: false, name: "pw" }),
    h,
  );
  h = sym(tf.layers.flatten({ name: "flat" }), h);
  h = sym(tf.layers.dense({ units: 5, activation: "relu", name: "fc1" }), h);
  const y = sym(tf.layers.dense({ units: 4, name: "fc2" }), h);
  return { model: tf.model({ inputs: x, outputs: y }), mrelu };
}

Deno.test("params, MACs and ReLUs of a hand-built model match a hand count", async () => {
  const { model, mrelu } = handModel();
  // mask [4,4,6]: switch off 10 of the 96 elements
  const m = new Float32Array(96).fill(1);
  for (let i = 0; i < 10; i++) m[i * 7] = 0;
  mrelu.setMask(tf.tensor(m));
  // A frozen layer's weights are still parameters (PyTorch counts them).
  model.getLayer("bn").trainable = false;

  const conv = 3 * 3 * 2 * 3 + 3, bn = 2 * 3, dw = 3 * 3 * 3 * 2, pw = 6 * 2;
  const fc1 = 2 * 2 * 2 * 5 + 5, fc2 = 5 * 4 + 4;
  const params = conv + bn + dw + pw + fc1 + fc2; // 198
  equal((await countParams(model)).total, params);

  const macs = 3 * 3 * 2 * 3 * 4 * 4 + // conv: kh*kw*cin*cout*Hout*Wout
    3 * 3 * 3 * 2 * 4 * 4 + // depthwise: kh*kw*cin*mult*Hout*Wout
    6 * 2 * 2 * 2 + // 1x1 stride 2: cin*cout*2*2
    8 * 5 + 5 * 4;
  equal(countMacs(model), macs);

  deepEqual(await countRelus(model), { total: 4 * 4 * 3 + 96 + 5, active: 4 * 4 * 3 + 86 + 5 });

  const table = await layerTable(model);
  const rows = Object.fromEntries(table.map((r) => [r.name, r]));
  deepEqual(rows.conv, {
    name: "conv",
    className: "Conv2D",
    outputShape: [4, 4, 3],
    params: conv,
    macs: 3 * 3 * 2 * 3 * 16,
    relus: 0,
  });
  deepEqual(rows.mrelu.outputShape, [4, 4, 6]);
  equal(rows.mrelu.relus, 86);
  equal(rows.bn.params, 6);
  equal(rows.fc1.relus, 5);
  equal(rows.pw.macs, 48);
  equal(table.reduce((s, r) => s + r.macs, 0), macs);
});

Deno.test("countParams counts non-zero weights", async () => {
  const { model } = handModel();
  // all parameters 1, then zeros: the conv bias (3), BN beta (3), 4 kernel entries of fc2.
  for (const l of model.layers) {
    l.setWeights(l.weights.map((w) => tf.ones(w.shape as number[])));
  }
  const bn = model.getLayer("bn");
  bn.setWeights(bn.getWeights().map((w, i) => (i === 1 ? tf.zerosLike(w) : w)));
  const conv = model.getLayer("conv");
  conv.setWeights([conv.getWeights()[0], tf.zeros([3])]);
  const fc2 = model.getLayer("fc2");
  const k = new Float32Array(20).fill(1);
  for (const i of [0, 5, 10, 19]) k[i] = 0;
  fc2.setWeights([tf.tensor2d(k, [5, 4]), fc2.getWeights()[1]]);
  const { total, nonZero } = await countParams(model);
  equal(total, 198);
  equal(nonZero, 198 - 3 - 3 - 4);
});

/** n examples of dimension 3, labels given; batches in order. */
function tableData(xs: number[][], ys: number[], numClasses: number): Dataset {
  return {
    name: "table",
    inputShape: [3],
    numClasses,
    size: () => xs.length,
    *batches(_split, o): Iterable<Batch> {
      const n = Math.min(xs.length, o.limit ?? Infinity);
      for (let i = 0; i < n; i += o.batchSize) {
        const j = Math.min(n, i + o.batchSize);
        yield { x: tf.tensor2d(xs.slice(i, j)), y: tf.tensor1d(ys.slice(i, j), "int32") };
      }
    },
  };
}

Deno.test("accuracy equals a hand computation of top-1, top-5 and cross-entropy", async () => {
  const C = 7;
  const W = Array.from(
    { length: 3 },
    (_, i) => Array.from({ length: C }, (_, j) => Math.sin(1 + i * C + j)),
  );
  const input = tf.input({ shape: [3] });
  const dense = tf.layers.dense({ units: C, useBias: false });
  const model = tf.model({ inputs: input, outputs: sym(dense, input) });
  dense.setWeights([tf.tensor2d(W)]);
  const xs = Array.from({ length: 9 }, (_, i) => [Math.cos(i), Math.sin(2 * i), (i % 3) - 1]);
  const ys = [0, 1, 2, 3, 4, 5, 6, 2, 4];
  const data = tableData(xs, ys, C);

  const hand = (n: number) => {
    let t1 = 0, t5 = 0, loss = 0;
    for (let e = 0; e < n; e++) {
      const z = W[0].map((_, j) => xs[e][0] * W[0][j] + xs[e][1] * W[1][j] + xs[e][2] * W[2][j]);
      const rank = z.filter((v) => v > z[ys[e]]).length;
      if (rank < 1) t1++;
      if (rank < 5) t5++;
      const mx = Math.max(...z);
      loss += Math.log(z.reduce((s, v) => s + Math.exp(v - mx), 0)) + mx - z[ys[e]];
    }
    return { top1: t1 / n, top5: t5 / n, loss: loss / n, n };
  };

  const before = tf.memory().numTensors;
  for (const [limit, batchSize] of [[undefined, 4], [5, 2]] as const) {
    const got = await accuracy(model, data, { batchSize, limit });
    const want = hand(limit ?? 9);
    equal(got.n, want.n);
    allClose([got.top1, got.top5, got.loss], [want.top1, want.top5, want.loss], { rtol: 1e-5 });
  }
  // not a degenerate case: some examples are wrong at top-1 and right at top-5
  const all = hand(9);
  ok(all.top1 > 0 && all.top1 < all.top5, JSON.stringify(all));
  equal(tf.memory().numTensors, before, "accuracy leaks no tensors");
});

Deno.test("accuracy runs in inference mode (dropout off, BN moving statistics)", async () => {
  const input = tf.input({ shape: [3] });
  const h = sym(tf.layers.dropout({ rate: 0.9 }), input);
  const model = tf.model({ inputs: input, outputs: sym(tf.layers.batchNormalization(), h) });
  // moving mean 0, variance 1, gamma 1, beta 0: logits = x / sqrt(1 + 1e-3)
  const data = tableData([[3, 1, 0], [0, 0, 2]], [0, 2], 3);
  const a = await accuracy(model, data, { batchSize: 2 });
  const ce = (z: number[], y: number) => {
    const s = z.map((v) => v / Math.sqrt(1 + 1e-3));
    return Math.log(s.reduce((t, v) => t + Math.exp(v), 0)) - s[y];
  };
  equal(a.top1, 1);
  allClose([a.loss], [(ce([3, 1, 0], 0) + ce([0, 0, 2], 2)) / 2], { rtol: 1e-5 });
});

Deno.test("latency is a positive median and leaks nothing", async () => {
  const { model } = handModel();
  const before = tf.memory().numTensors;
  const ms = await latency(model, { batchSize: 2, warmup: 1, runs: 3 });
  ok(ms > 0 && Number.isFinite(ms));
  equal(tf.memory().numTensors, before);
});

/** A Dense stack of `depth` layers of `units`: more of either costs more time. */
function denseStack(units: number, depth: number): tf.LayersModel {
  const x = tf.input({ shape: [units] });
  let h = x;
  for (let i = 0; i < depth; i++) h = sym(tf.layers.dense({ units }), h);
  return tf.model({ inputs: x, outputs: h });
}

Deno.test("countMacs: a Conv2DTranspose costs kh*kw*cin*cout per input position, also when shared", () => {
  const deconv = tf.layers.conv2dTranspose({ filters: 3, kernelSize: 2, strides: 2, name: "up" });
  const a = tf.input({ shape: [4, 5, 2] }), b = tf.input({ shape: [4, 5, 2] });
  const out = tf.layers.add().apply([sym(deconv, a), sym(deconv, b)]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [a, b], outputs: out });
  // no throw on the shared layer; like every layer it counts once (module doc)
  equal(countMacs(model), 2 * 2 * 2 * 3 * 4 * 5);
  model.dispose();
});

Deno.test("latency times one predict call of the whole batch", async () => {
  const model = denseStack(4, 1);
  const seen: (number | undefined)[] = [];
  const predict = model.predict.bind(model);
  model.predict = (x, args) => {
    seen.push(args?.batchSize);
    return predict(x, args);
  };
  await latency(model, { batchSize: 64, warmup: 1, runs: 2 });
  deepEqual(seen, [64, 64, 64]);
  model.dispose();
});

Deno.test("compareLatency ranks a far costlier model slower, side by side, and leaks nothing", async () => {
  const heavy = denseStack(256, 4), light = denseStack(64, 1);
  const before = tf.memory().numTensors;
  const { ms, speedUp } = await compareLatency([heavy, light], {
    batchSize: 64,
    rounds: 3,
    runs: 3,
    warmup: 1,
  });
  equal(tf.memory().numTensors, before);
  equal(speedUp[0], 1);
  ok(ms.every((t) => t > 0 && Number.isFinite(t)), `${ms}`);
  ok(speedUp[1] > 2 && ms[0] > ms[1], `heavy ${ms[0]} ms, light ${ms[1]} ms`);
  heavy.dispose();
  light.dispose();
});

Deno.test("sizeOnDisk sums file sizes, nested directories included", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/a.bin`, new Uint8Array(100));
    Deno.mkdirSync(`${dir}/sub`);
    Deno.writeTextFileSync(`${dir}/sub/b.json`, "12345");
    equal(sizeOnDisk(dir), 105);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
