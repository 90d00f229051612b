/**
 * The `webgpu` backend through Deno's built-in `navigator.gpu` (needs
 * `--unstable-webgpu`, which the deno tasks pass). Software adapters
 * (lavapipe / llvmpipe, SwiftShader) are "fallback" adapters: usable when asked
 * for by name, never preferred by `auto` over wasm.
 * @module
 */
import { tf } from "../tf.ts";
import type { BackendInfo } from "../pipeline.ts";

/** What `navigator.gpu` offers. */
export interface AdapterProbe {
  /** Adapter description, e.g. "NVIDIA GeForce RTX 3060" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  name: string;
  /** True for CPU (software) adapters. */
  fallback: boolean;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;

/**
 * Mesa's Vulkan loader prints "XDG_RUNTIME_DIR is invalid or not set" to stderr
 * on headless machines whenever an adapter is requested; give it a private
 * directory so runs stay quiet.
 */
function quietMesa(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = Deno.makeTempDirSync({ prefix: "shears-xdg-" });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // No env/write permission: the noise is harmless.
  }
}

/** Asks `navigator.gpu` for a high-performance adapter; null when there is none. */
export async function probeAdapter(): Promise<AdapterProbe | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (gpu == null) return null;
  quietMesa();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter == null) return null;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const name = info.description || [info.vendor, info.device].filter(Boolean).join(" ") ||
    "unknown adapter";
  return {
    name,
    fallback: info.isFallbackAdapter === true || legacy === true || SOFTWARE.test(name),
  };
}

/**
 * Selects tfjs-backend-webgpu on the adapter `probeAdapter` found. Throws an
 * Error with a one-line reason when there is no adapter, or only a fallback
 * adapter and `allowFallback` is false.
 */
export async function initWebGpu(allowFallback: boolean): Promise<BackendInfo> {
  if ((navigator as Navigator & { gpu?: GPU }).gpu == null) {
    throw new Error("navigator.gpu is missing (run deno with --unstable-webgpu)");
  }
  const probe = await probeAdapter();
  if (probe == null) throw new Error("navigator.gpu offers no adapter");
  if (probe.fallback && !allowFallback) throw new Error(`only a fallback adapter (${probe.name})`);
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) throw new Error(`failed to initialise on ${probe.name}`);
  return {
    name: "webgpu",
    device: probe.fallback ? `${probe.name}, fallback adapter` : probe.name,
  };
}
