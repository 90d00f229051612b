/**
 * WebGPU (lavapipe on CI) through one provider per process:
 * SHEARS_TEST_WEBGPU_PROVIDER=dawn|deno (default auto). Parity with the cpu
 * backend (tfjs's kernels, and Shears' parallel filter gradients switched
 * on), the provider recorded, a dispatch budget for a training step, and
 * `auto` never choosing a fallback (software) adapter over wasm.
 * Runs only with SHEARS_TEST_WEBGPU=1 (or SHEARS_TEST_BACKEND=webgpu), in its own
 * `deno test` process: Deno 2.9 sometimes aborts at exit (heap corruption,
 * after every test passed) when one process both created a WebGPU instance and
 * ran wasm kernels, which the parallel `deno task test` run would turn into a
 * flaky CI failure. Skipped, too, when the provider offers no adapter.
 */
import {
  countDispatches,
  describeBackend,
  FUSED_BN_GRAD,
  initBackend,
  PARALLEL_FILTER_GRADS,
  probeAdapter,
  tf,
  type WebGpuProvider,
} from "@shears/core";
import { innerChunks } from "../core/backends/webgpu/filter_grads.ts";
import { rowSplits } from "../core/backends/webgpu/batch_norm_grad.ts";
import { benchBatch, buildNet, recordTrainStep } from "../bench/nets.ts";
import { equal, match, ok } from "./assert.ts";
import { cases, close, evaluate, inputsFor, parity } from "./backend_cases.ts";

const wanted = Deno.env.get("SHEARS_TEST_WEBGPU") === "1" ||
  Deno.env.get("SHEARS_TEST_BACKEND") === "webgpu";
const provider = (Deno.env.get("SHEARS_TEST_WEBGPU_PROVIDER") ?? "auto") as WebGpuProvider;
const adapter = wanted ? await probeAdapter(provider) : null;
const ignore = adapter == null;
const why = wanted ? `${provider}: no adapter` : "set SHEARS_TEST_WEBGPU=1";
const label = adapter ? `${adapter.provider}: ${adapter.name}` : why;

/**
 * Dispatches of one training step of the bench VGG (bench/nets.ts; SGD, batch
 * 2) and of its inference: the count is what a fusion lowers and what per-step
 * host cost scales with (BENCH.md), so a change that adds dispatches must
 * lower this on purpose.
 */
const TRAIN_STEP_DISPATCHES = 300;
const INFERENCE_DISPATCHES = 27;

Deno.test({
  name: `webgpu forward and gradients match cpu (${label})`,
  ignore,
  fn: () => parity("webgpu", provider),
});

Deno.test({
  name: `the report names the WebGPU provider (${label})`,
  ignore,
  fn: async () => {
    const info = await initBackend("webgpu", { quiet: true, webgpu: provider });
    equal(info.provider, adapter!.provider);
    if (provider !== "auto") equal(info.provider, provider);
    match(describeBackend(info), new RegExp(`^backend: webgpu \\(${info.provider}\\) on `));
  },
});

const filterGradCases = cases.filter((c) => /^(conv|depthwise)/.test(c.name) && c.grads !== false);

/** Runs `fn` with Shears' parallel filter-gradient kernels switched on. */
async function withParallelFilterGrads(fn: () => Promise<void>): Promise<void> {
  await initBackend("webgpu", { quiet: true, webgpu: provider });
  tf.env().set(PARALLEL_FILTER_GRADS, true);
  try {
    await fn();
  } finally {
    tf.env().set(PARALLEL_FILTER_GRADS, false);
  }
}

Deno.test({
  name: "webgpu parallel filter gradients match cpu",
  ignore,
  fn: () =>
    withParallelFilterGrads(async () => {
      ok(filterGradCases.length >= 10, `${filterGradCases.length} conv cases`);
      await parity("webgpu", provider, filterGradCases);
    }),
});

/**
 * dW of a 1x1 conv over 2x16x16 positions, 64 -> 160 channels: enough output
 * tiles (10) and positions (512) for the parallel kernel to split the matmul's
 * inner dimension into chunks; the reference is the one plain matmul x^T · dy.
 */
function chunkedFilterGrad(): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const x = tf.randomUniform([2, 16, 16, 64], -1, 1, "float32", 1);
    const dy = tf.randomUniform([2, 16, 16, 160], -1, 1, "float32", 2);
    const dW = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
      strides: 1,
      pad: "valid",
      dataFormat: "NHWC",
      filterShape: [1, 1, 64, 160],
    }) as tf.Tensor;
    return [dW, tf.matMul(x.reshape([512, 64]), dy.reshape([512, 160]), true, false)];
  });
}

Deno.test({
  name: "webgpu parallel conv filter gradient with a chunked inner dimension equals x^T · dy",
  ignore,
  fn: () =>
    withParallelFilterGrads(async () => {
      equal(innerChunks(512, 10), 2);
      const [dW, ref] = chunkedFilterGrad();
      close(await dW.data() as Float32Array, await ref.data() as Float32Array, "chunked dW");
      tf.dispose([dW, ref]);
    }),
});

Deno.test({
  name: "webgpu parallel filter-gradient kernels free their intermediates",
  ignore,
  fn: () =>
    withParallelFilterGrads(async () => {
      const grads = cases.filter((c) => /input channels|batch 3/.test(c.name));
      equal(grads.length, 3);
      const data = grads.map(inputsFor);
      const step = async () => {
        for (const [i, c] of grads.entries()) await evaluate(c, data[i], i);
        const out = chunkedFilterGrad();
        await out[0].data();
        tf.dispose(out);
      };
      await step();
      const before = [tf.memory().numTensors, tf.backend().numDataIds()];
      for (let i = 0; i < 3; i++) await step();
      equal(tf.memory().numTensors, before[0], "tensors grew");
      equal(tf.backend().numDataIds(), before[1], "webgpu buffers grew");
    }),
});

/**
 * Gradients of training-mode batch norm (tf.moments + FusedBatchNorm, as
 * tfjs-layers does it) of x [8, 16, 16, 24] w.r.t. x, gamma and beta, with the
 * fused gradient on or off: 2048 rows make the fused reduction split its rows
 * (8 splits) and 24 channels leave its second channel block half full.
 */
async function batchNormGrads(fused: boolean): Promise<Float32Array[]> {
  tf.env().set(FUSED_BN_GRAD, fused);
  try {
    const grads = tf.tidy(() => {
      const x = tf.randomNormal([8, 16, 16, 24], 0.5, 2, "float32", 3);
      const gamma = tf.randomUniform([24], 0.5, 1.5, "float32", 4);
      const beta = tf.randomUniform([24], -1, 1, "float32", 5);
      const proj = tf.randomUniform(x.shape, -1, 1, "float32", 6);
      const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        return tf.sum(tf.mul(tf.batchNorm(x, mean, variance, b, g, 1e-3), proj));
      };
      return tf.grads(f)([x, gamma, beta]);
    });
    const out = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
    tf.dispose(grads);
    return out;
  } finally {
    tf.env().set(FUSED_BN_GRAD, true);
  }
}

Deno.test({
  name:
    "webgpu fused batch-norm gradient equals tfjs's over split rows and a partial channel block",
  ignore,
  fn: async () => {
    await initBackend("webgpu", { quiet: true, webgpu: provider });
    equal(rowSplits(8 * 16 * 16), 8);
    const reference = await batchNormGrads(false);
    const before = tf.memory().numTensors;
    const fused = await batchNormGrads(true);
    equal(tf.memory().numTensors, before, "tensors leaked");
    for (const [i, what] of ["dx", "dgamma", "dbeta"].entries()) {
      close(fused[i], reference[i], what);
    }
  },
});

Deno.test({
  name: "a training step of the bench VGG stays within its dispatch budget",
  ignore,
  fn: async () => {
    await initBackend("webgpu", { quiet: true, webgpu: provider });
    const model = buildNet("vgg");
    const optimizer = tf.train.sgd(0.01);
    const { x, labels } = benchBatch(2);
    const train = () => countDispatches(() => recordTrainStep(model, optimizer, x, labels));
    const first = train().result;
    await first.data();
    first.dispose();
    const before = tf.memory().numTensors;
    const { result: loss, counts } = train();
    ok(Number.isFinite((await loss.data())[0]), "finite loss");
    const infer = countDispatches(() => model.predict(x) as tf.Tensor);
    await infer.result.data();
    tf.dispose([loss, infer.result]);
    equal(tf.memory().numTensors, before, "tensors leaked");
    ok(
      counts.dispatches <= TRAIN_STEP_DISPATCHES,
      `training step: ${counts.dispatches} dispatches > ${TRAIN_STEP_DISPATCHES}: ` +
        JSON.stringify([...counts.byKernel]),
    );
    ok(
      infer.counts.dispatches <= INFERENCE_DISPATCHES,
      `inference: ${infer.counts.dispatches} dispatches > ${INFERENCE_DISPATCHES}`,
    );
    tf.dispose([x, labels]);
    optimizer.dispose();
    model.dispose();
  },
});

Deno.test({
  name: "software adapters are flagged as fallback; --backend webgpu still uses them",
  ignore: ignore || !/llvmpipe|lavapipe|swiftshader/i.test(adapter?.name ?? ""),
  fn: async () => {
    ok(adapter!.fallback);
    const info = await initBackend("webgpu", { quiet: true, webgpu: provider });
    equal(info.name, "webgpu");
    equal(tf.getBackend(), "webgpu");
    ok(info.device.includes("fallback adapter"));
  },
});

Deno.test({
  name: "auto never prefers a fallback (software) WebGPU adapter over wasm",
  ignore: !wanted,
  fn: async () => {
    const info = await initBackend("auto", { quiet: true, webgpu: provider });
    equal(tf.getBackend(), info.name);
    if (adapter == null || adapter.fallback) equal(info.name, "wasm");
    else equal(info.name, "webgpu");
  },
});
