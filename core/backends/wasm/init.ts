/**
 * Selects tfjs-backend-wasm (XNNPACK) with Shears' extra kernels registered,
 * and reports its SIMD / thread state.
 * @module
 */
import { tf } from "../../tf.ts";
import type { BackendInfo } from "../../pipeline.ts";
import { cpuName } from "../host.ts";
import { registerWasmKernels } from "./mod.ts";

/** Initialises the wasm backend; throws an Error with a one-line reason on failure. */
export async function initWasm(): Promise<BackendInfo> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  registerWasmKernels();
  if (!(await tf.setBackend("wasm"))) throw new Error("WebAssembly module failed to initialise");
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) as boolean;
  const threads = (await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")) as boolean &&
    wasm.getThreadsCount() > 1;
  return { name: "wasm", device: cpuName(), simd, threads };
}
