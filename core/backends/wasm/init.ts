/**
 * Selects tfjs-backend-wasm (XNNPACK) with Shears' extra kernels registered,
 * multi-threaded where possible, and reports its SIMD / thread state.
 * @module
 */
import { tf } from "../../tf.ts";
import type { BackendInfo } from "../../pipeline.ts";
import { cpuName } from "../host.ts";
import { registerWasmKernels } from "./mod.ts";
import { setWasmBackend } from "./threads.ts";

let threadsInUse = 0;

/** Initialises the wasm backend; throws an Error with a one-line reason on failure. */
export async function initWasm(): Promise<BackendInfo> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  registerWasmKernels();
  if (tf.findBackend("wasm") == null || threadsInUse === 0) {
    threadsInUse = await setWasmBackend(wasm);
  } else if (!(await tf.setBackend("wasm"))) {
    throw new Error("WebAssembly module failed to initialise");
  }
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) as boolean;
  const threads = threadsInUse > 1;
  const device = `${cpuName()}, ${threadsInUse} thread${threads ? "s" : ""}`;
  return { name: "wasm", device, simd, threads };
}
