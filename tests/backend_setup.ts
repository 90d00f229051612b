/**
 * Picks the tfjs backend for a test file: `SHEARS_TEST_BACKEND` (cpu | wasm |
 * webgpu), default cpu. Call `await useTestBackend()` at the top of a test file.
 * @module
 */
import { tf } from "@shears/core";

/** Initialises the test backend once per process and returns its name. */
export async function useTestBackend(): Promise<string> {
  const name = Deno.env.get("SHEARS_TEST_BACKEND") ?? "cpu";
  if (tf.getBackend() === name) return name;
  if (name === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  if (name === "webgpu") await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
  return name;
}
