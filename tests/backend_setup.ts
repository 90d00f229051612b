/**
 * Picks the tfjs backend for a test file: `SHEARS_TEST_BACKEND` (cpu | wasm |
 * webgpu | tensorflow | auto), default cpu. Call `await useTestBackend()` at the
 * top of a test file.
 * @module
 */
import { type BackendName, backendNames, initBackend, tf } from "@shears/core";

/** Initialises the test backend once per process and returns its name. */
export async function useTestBackend(): Promise<string> {
  const name = (Deno.env.get("SHEARS_TEST_BACKEND") ?? "cpu") as BackendName;
  if (!backendNames.includes(name)) {
    throw new Error(`SHEARS_TEST_BACKEND must be one of ${backendNames.join(", ")}, got ${name}`);
  }
  if (tf.getBackend() === name) return name;
  return (await initBackend(name, { quiet: true })).name;
}
