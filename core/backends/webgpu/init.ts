/**
 * The `webgpu` backend on the adapter a provider offers (provider.ts): Dawn
 * through the npm `webgpu` binding or Deno's built-in `navigator.gpu`.
 * Software adapters (lavapipe / llvmpipe, SwiftShader) are "fallback"
 * adapters: usable when asked for by name, never preferred by `auto` over wasm.
 * @module
 */
import { tf } from "../../tf.ts";
import type { BackendInfo } from "../../pipeline.ts";
import {
  type DawnOptions,
  findAdapter,
  type FoundAdapter,
  type WebGpuProvider,
} from "./provider.ts";
import { registerWebGpuKernels } from "./kernels.ts";

/** What a provider offers (see {@link probeAdapter}). */
export interface AdapterProbe {
  /** Adapter description, e.g. "NVIDIA GeForce RTX 3060" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  name: string;
  /** True for CPU (software) adapters. */
  fallback: boolean;
  /** Who offered it. */
  provider: "dawn" | "deno";
}

/**
 * The adapter `provider` would use, or null when it has none (never throws).
 *
 * @example
 * ```ts
 * const a = await probeAdapter("auto");
 * if (a && !a.fallback) console.log(`a GPU through ${a.provider}: ${a.name}`);
 * ```
 */
export async function probeAdapter(
  provider: WebGpuProvider = "auto",
): Promise<AdapterProbe | null> {
  const found = await findAdapter(provider).catch(() => null);
  return found && { name: found.name, fallback: found.fallback, provider: found.provider };
}

/** The device tfjs-backend-webgpu asks for: its limits, plus timestamp queries when offered. */
async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const wanted: GPUFeatureName[] = ["timestamp-query", "bgra8unorm-storage"];
  const limits = adapter.limits;
  return await adapter.requestDevice({
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
}

/**
 * tfjs-backend-webgpu tells a tensor's buffer from a texture with `instanceof`
 * the global GPUBuffer and GPUTexture, which are Deno's own classes even when
 * the device is Dawn's: Dawn's buffers failed both tests, so a disposed
 * tensor's buffer never went back to the pool (every op allocated a new one
 * and GPU memory grew each step until Dawn ran out). Point both globals at the
 * classes of `device`'s objects.
 */
function adoptClasses(device: GPUDevice): void {
  const buffer = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE });
  const texture = device.createTexture({
    size: [1, 1],
    format: "rgba8unorm",
    usage: GPUTextureUsage.TEXTURE_BINDING,
  });
  for (const [name, made] of [["GPUBuffer", buffer], ["GPUTexture", texture]] as const) {
    Object.defineProperty(globalThis, name, {
      value: made.constructor,
      configurable: true,
      writable: true,
    });
  }
  buffer.destroy();
  texture.destroy();
}

/** The adapter tfjs's `webgpu` backend is registered on, and the choice that found it. */
let registered: { key: string; found: FoundAdapter } | undefined;

/**
 * Registers tfjs's `webgpu` backend on `found` (replacing any earlier
 * registration, which would ask Deno's navigator.gpu for its own adapter).
 */
async function registerOn(found: FoundAdapter): Promise<void> {
  const nav = navigator as Navigator & { gpu?: GPU };
  // tfjs-backend-webgpu checks navigator.gpu exists before it registers or constructs.
  if (nav.gpu == null) Object.defineProperty(nav, "gpu", { value: found.gpu, configurable: true });
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  registerWebGpuKernels();
  if (tf.findBackendFactory("webgpu") != null) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", async () => {
    const device = await requestDevice(found.adapter);
    adoptClasses(device);
    return new WebGPUBackend(device, found.adapter.info);
  }, 3);
}

/**
 * Selects tfjs-backend-webgpu on `provider`'s adapter. Throws an Error with a
 * one-line reason when there is no adapter, or only a fallback adapter and
 * `allowFallback` is false.
 */
export async function initWebGpu(
  allowFallback: boolean,
  provider: WebGpuProvider = "auto",
  dawnOptions: DawnOptions = [],
): Promise<BackendInfo> {
  const key = [provider, ...dawnOptions].join(" ");
  // The same choice again (tests switch backends back and forth): keep the device and its
  // compiled pipelines.
  const found = registered?.key === key && tf.findBackend("webgpu") != null
    ? registered.found
    : await findAdapter(provider, dawnOptions);
  if (found == null) {
    throw new Error("no WebGPU adapter (Dawn offers none; Deno's needs --unstable-webgpu)");
  }
  if (found.fallback && !allowFallback) throw new Error(`only a fallback adapter (${found.name})`);
  if (registered?.found !== found) {
    await registerOn(found);
    registered = { key, found };
  }
  if (!(await tf.setBackend("webgpu"))) throw new Error(`failed to initialise on ${found.name}`);
  return {
    name: "webgpu",
    provider: found.provider,
    device: found.fallback ? `${found.name}, fallback adapter` : found.name,
  };
}
