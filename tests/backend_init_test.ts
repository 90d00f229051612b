/**
 * initBackend: explicit choices, auto's preference order, one-line errors.
 */
import { BackendError, type BackendName, describeBackend, initBackend, tf } from "@shears/core";
import { equal, match, ok, rejects } from "./assert.ts";

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
