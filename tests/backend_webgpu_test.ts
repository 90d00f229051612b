/**
 * WebGPU through Deno's navigator.gpu (lavapipe on CI): parity with the cpu
 * backend, and `auto` never choosing a fallback (software) adapter over wasm.
 * Runs only with SHEARS_TEST_WEBGPU=1 (or SHEARS_TEST_BACKEND=webgpu), in its own
 * `deno test` process: Deno 2.9 sometimes aborts at exit (heap corruption,
 * after every test passed) when one process both created a WebGPU instance and
 * ran wasm kernels, which the parallel `deno task test` run would turn into a
 * flaky CI failure. Skipped, too, when navigator.gpu offers no adapter.
 */
import { initBackend, probeAdapter, tf } from "@shears/core";
import { equal, ok } from "./assert.ts";
import { parity } from "./backend_cases.ts";

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
