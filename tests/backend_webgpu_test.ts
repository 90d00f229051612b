/**
 * WebGPU through Deno's navigator.gpu (lavapipe on CI): parity with the cpu
 * backend, Shears' filter-gradient kernels (core/backends/webgpu), and `auto`
 * never choosing a fallback (software) adapter over wasm.
 * Runs only with SHEARS_TEST_WEBGPU=1 (or SHEARS_TEST_BACKEND=webgpu), in its own
 * `deno test` process: Deno 2.9 sometimes aborts at exit (heap corruption,
 * after every test passed) when one process both created a WebGPU instance and
 * ran wasm kernels, which the parallel `deno task test` run would turn into a
 * flaky CI failure. Skipped, too, when navigator.gpu offers no adapter.
 */
import { initBackend, probeAdapter, tf } from "@shears/core";
import { innerChunks } from "../core/backends/webgpu/filter_grads.ts";
import { equal, ok } from "./assert.ts";
import { cases, close, evaluate, inputsFor, parity } from "./backend_cases.ts";

const wanted = Deno.env.get("SHEARS_TEST_WEBGPU") === "1" ||
  Deno.env.get("SHEARS_TEST_BACKEND") === "webgpu";
const adapter = wanted ? await probeAdapter() : null;
const ignore = adapter == null;
const why = wanted ? "no adapter" : "set SHEARS_TEST_WEBGPU=1";

Deno.test({
  name: `webgpu forward and gradients match cpu (${adapter?.name ?? why})`,
  ignore,
  fn: () => parity("webgpu"),
});

/**
 * dW of a 1x1 conv over 2x16x16 positions, 64 -> 160 channels: enough output
 * tiles (10) and positions (512) for the webgpu kernel to split the matmul's
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
  name: "webgpu conv filter gradient with a chunked inner dimension equals x^T · dy",
  ignore,
  fn: async () => {
    await initBackend("webgpu", { quiet: true });
    equal(innerChunks(512, 10), 2);
    const [dW, ref] = chunkedFilterGrad();
    close(await dW.data() as Float32Array, await ref.data() as Float32Array, "chunked dW");
    tf.dispose([dW, ref]);
  },
});

Deno.test({
  name: "webgpu filter-gradient kernels free their intermediates",
  ignore,
  fn: async () => {
    await initBackend("webgpu", { quiet: true });
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
  },
});

Deno.test({
  name: "software adapters are flagged as fallback; --backend webgpu still uses them",
  ignore: ignore || !/llvmpipe|lavapipe|swiftshader/i.test(adapter?.name ?? ""),
  fn: async () => {
    ok(adapter!.fallback);
    const info = await initBackend("webgpu", { quiet: true });
    equal(info.name, "webgpu");
    equal(tf.getBackend(), "webgpu");
    ok(info.device.includes("fallback adapter"));
  },
});

Deno.test({
  name: "auto never prefers a fallback (software) WebGPU adapter over wasm",
  ignore: !wanted,
  fn: async () => {
    const info = await initBackend("auto", { quiet: true });
    equal(tf.getBackend(), info.name);
    if (adapter == null || adapter.fallback) equal(info.name, "wasm");
    else equal(info.name, "webgpu");
  },
});
