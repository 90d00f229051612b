/**
 * initBackend: explicit choices, auto's preference order, one-line errors,
 * and (in subprocesses, which may touch WebGPU) the --webgpu provider's errors
 * and no temp dir left behind.
 */
import {
  BackendError,
  type BackendName,
  describeBackend,
  initBackend,
  tf,
  type WebGpuProvider,
} from "@shears/core";
import { deepEqual, equal, match, ok, rejects } from "./assert.ts";
import { oneLineError, runDeno } from "./subprocess.ts";

Deno.test("--backend tensorflow without tfjs-node(-gpu): one-line BackendError with install hint", async () => {
  const err = await initBackend("tensorflow", { quiet: true }).then(() => null, (e) => e);
  ok(err instanceof BackendError, "BackendError");
  const msg = (err as Error).message;
  ok(!msg.includes("\n"), "one line");
  match(msg, /--backend tensorflow .*tfjs-node-gpu is not installed/);
  match(msg, /deno install --allow-scripts=npm:@tensorflow\/tfjs-node-gpu/);
  match(msg, /CUDA 11\.2 \+ cuDNN 8/);
});

Deno.test("an unknown backend name is a BackendError naming the accepted values", async () => {
  await rejects(
    initBackend("tpu" as BackendName, { quiet: true }),
    (e: Error) =>
      e instanceof BackendError && /auto, tensorflow, webgpu, wasm, cpu, got tpu/.test(e.message),
  );
});

Deno.test("wasm reports SIMD and thread state; cpu reports the device", async () => {
  const wasm = await initBackend("wasm", { quiet: true });
  equal(wasm.name, "wasm");
  equal(tf.getBackend(), "wasm");
  equal(typeof wasm.simd, "boolean");
  equal(typeof wasm.threads, "boolean");
  match(describeBackend(wasm), /^backend: wasm on .+, SIMD (on|off), threads (on|off)$/);
  const cpu = await initBackend("cpu", { quiet: true });
  equal(cpu.name, "cpu");
  equal(tf.getBackend(), "cpu");
  ok(cpu.device.length > 0);
});

const summary = new URL("../pipelines/summary.ts", import.meta.url).pathname;
const trainTeacher = new URL("../pipelines/train_teacher.ts", import.meta.url).pathname;
const runFlags = ["run", "--allow-all", "--unstable-webgpu"];

Deno.test("--backend auto leaves no temp dir behind (Mesa's XDG_RUNTIME_DIR is removed at exit)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "shears_tmpdir_test_" });
  try {
    // auto probes Dawn's and Deno's WebGPU adapters, which set up XDG_RUNTIME_DIR when unset
    const out = await runDeno(
      [...runFlags, summary, "--model=mlp", "--dataset=mnist", "--backend=auto"],
      undefined,
      { env: { TMPDIR: tmp, XDG_RUNTIME_DIR: "" } },
    );
    equal(out.code, 0, out.stderr);
    match(out.stdout, /params: \d+/);
    deepEqual(await Array.fromAsync(Deno.readDir(tmp), (e) => e.name), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--webgpu dawn without a Vulkan driver: one line naming why, exit 2", async () => {
  const out = await runDeno(
    [...runFlags, trainTeacher, "--backend=webgpu", "--webgpu=dawn", "--out=/nonexistent/run"],
    undefined,
    { env: { VK_ICD_FILENAMES: "/nonexistent/icd.json" } },
  );
  match(
    oneLineError(out),
    /^error: --backend webgpu --webgpu dawn is not usable here: Dawn found no Vulkan driver/,
  );
});

Deno.test("a bad --webgpu value is one line naming the accepted values", async () => {
  const out = await runDeno([...runFlags, trainTeacher, "--webgpu=metal"]);
  match(oneLineError(out), /--webgpu .*auto, dawn, deno.*metal|metal.*auto, dawn, deno/);
});

Deno.test("initBackend rejects an unknown WebGPU provider with a BackendError", async () => {
  await rejects(
    initBackend("wasm", { quiet: true, webgpu: "metal" as WebGpuProvider }),
    (e: Error) =>
      e instanceof BackendError && /--webgpu must be one of auto, dawn, deno/.test(e.message),
  );
});
