/**
 * Where `navigator.gpu` comes from (`--webgpu auto|dawn|deno`): Dawn, Chrome's
 * WebGPU, through its Node-API binding (the npm package `webgpu`), or Deno's
 * built-in WebGPU (wgpu; needs `--unstable-webgpu`). `auto` takes Dawn when it
 * loads and offers a hardware adapter, else Deno's adapter, else Dawn's
 * software one (where Deno's adapter is a software one, or the machine has no
 * GPU device node, Dawn is not asked: it only warns about software drivers). A provider named explicitly that cannot be used fails with a
 * one-line reason (no Vulkan loader, a driver Dawn rejects, no device).
 *
 * @example
 * ```ts
 * const found = await findAdapter("auto");
 * found?.provider; // "dawn" on a GPU machine, "deno" on lavapipe
 * ```
 * @module
 */
import { firstLine } from "../host.ts";

/** Values accepted by `--webgpu`. */
export type WebGpuProvider = "auto" | "dawn" | "deno";

/** Every {@link WebGpuProvider}. */
export const webgpuProviders: readonly WebGpuProvider[] = ["auto", "dawn", "deno"];

/** An adapter one provider offers. */
export interface FoundAdapter {
  provider: "dawn" | "deno";
  /** Adapter description, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  name: string;
  /** True for CPU (software) adapters. */
  fallback: boolean;
  adapter: GPUAdapter;
  /** The `navigator.gpu` the adapter came from. */
  gpu: GPU;
}

/** Options for Dawn's `create()`, e.g. `["backend=null"]` for its null adapter (host cost only). */
export type DawnOptions = string[];

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software/i;

/**
 * Mesa's Vulkan loader (before Mesa 25) prints "XDG_RUNTIME_DIR is invalid or
 * not set" on headless machines whenever an adapter is requested; give it a
 * private directory, removed when the process exits, so runs stay quiet and
 * leave nothing behind.
 */
function quietMesa(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = Deno.makeTempDirSync({ prefix: "shears-xdg-" });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
  } catch {
    // No env/write permission: the noise is harmless.
  }
}

function describe(provider: "dawn" | "deno", gpu: GPU, adapter: GPUAdapter): FoundAdapter {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const name = info.description || [info.vendor, info.device].filter(Boolean).join(" ") ||
    "unknown adapter";
  return {
    provider,
    name,
    fallback: info.isFallbackAdapter === true || legacy === true || SOFTWARE.test(name),
    adapter,
    gpu,
  };
}

/** Deno's own `navigator.gpu` (present only with --unstable-webgpu). */
function denoGpu(): GPU | undefined {
  return (navigator as Navigator & { gpu?: GPU }).gpu;
}

async function request(gpu: GPU): Promise<GPUAdapter | null> {
  return await gpu.requestAdapter({ powerPreference: "high-performance" });
}

/** Deno's adapter, or null when Deno offers none (or has no WebGPU). */
export async function denoAdapter(): Promise<FoundAdapter | null> {
  const gpu = denoGpu();
  if (gpu == null) return null;
  quietMesa();
  const adapter = await request(gpu);
  return adapter && describe("deno", gpu, adapter);
}

/** Thrown when Dawn cannot be used; the message is one line for the user. */
export class DawnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DawnError";
  }
}

/** Dawn's module, loaded once (a 21 MB native library: only when asked for). */
let dawnModule: Promise<{ create(options: string[]): GPU; globals: object }> | undefined;

/** Dawn's `create`, and its WebGPU globals installed where Deno has none. */
async function loadDawn(): Promise<{ create(options: string[]): GPU }> {
  dawnModule ??= import("webgpu") as Promise<{ create(options: string[]): GPU; globals: object }>;
  let mod;
  try {
    mod = await dawnModule;
  } catch (e) {
    throw new DawnError(`Dawn (npm package webgpu) did not load: ${firstLine(e)}`);
  }
  // tfjs-backend-webgpu reads GPUBufferUsage, GPUMapMode, ... as globals: Deno
  // defines them with --unstable-webgpu; without it, Dawn's stand in (same values).
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true });
  }
  return mod;
}

const ICD_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];

/**
 * The Vulkan drivers (ICD manifests) the loader would try: those named by
 * VK_DRIVER_FILES / VK_ICD_FILENAMES when set, else the system's; file names
 * without ".json", e.g. ["lvp_icd", "nvidia_icd"].
 */
function vulkanDrivers(): string[] {
  const named = Deno.env.get("VK_DRIVER_FILES") ?? Deno.env.get("VK_ICD_FILENAMES");
  const files = named != null
    ? named.split(":").filter((f) => f !== "")
    : ICD_DIRS.flatMap((dir) => {
      try {
        return [...Deno.readDirSync(dir)].map((e) => `${dir}/${e.name}`);
      } catch {
        return [];
      }
    });
  return files.filter((f) => {
    try {
      return f.endsWith(".json") && Deno.statSync(f).isFile;
    } catch {
      return false;
    }
  }).map((f) => f.slice(f.lastIndexOf("/") + 1, -".json".length));
}

/** Why Vulkan cannot give Dawn an adapter, known before asking it; undefined when it might. */
function vulkanMissing(): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    Deno.dlopen("libvulkan.so.1", {}).close();
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      return undefined; // no FFI permission: no way to tell
    }
    return "Dawn needs the Vulkan loader libvulkan.so.1, which is missing (apt-get install libvulkan1)";
  }
  try {
    if (vulkanDrivers().length === 0) {
      return "Dawn found no Vulkan driver (no ICD manifest: install the GPU's driver, e.g. " +
        "NVIDIA's, or mesa-vulkan-drivers for a CPU one)";
    }
  } catch {
    // No read/env permission: let Dawn try.
  }
  return undefined;
}

/** The one-line reason Dawn offers no adapter although Vulkan drivers are installed. */
function whyNoDawnAdapter(options: DawnOptions): string {
  if (options.length) return `Dawn (${options.join(" ")}) offers no adapter`;
  if (Deno.build.os !== "linux") return "Dawn offers no adapter (no supported GPU driver)";
  let drivers = "";
  try {
    drivers = ` (${vulkanDrivers().join(", ")})`;
  } catch {
    // No permission to list them.
  }
  return `Dawn accepts none of the Vulkan drivers${drivers}: no device, or a driver too old ` +
    "for Dawn (Mesa before 25; on Debian 12: apt-get install -t bookworm-backports " +
    "mesa-vulkan-drivers)";
}

/**
 * Dawn's adapter. Throws a {@link DawnError} naming why when Dawn cannot load,
 * the Vulkan loader is missing, or it offers no adapter.
 */
export async function dawnAdapter(options: DawnOptions = []): Promise<FoundAdapter> {
  const nullBackend = options.includes("backend=null");
  const missing = nullBackend ? undefined : vulkanMissing();
  if (missing) throw new DawnError(missing);
  const { create } = await loadDawn();
  if (!nullBackend) quietMesa();
  let gpu: GPU;
  try {
    gpu = create(options);
  } catch (e) {
    throw new DawnError(`Dawn failed to start: ${firstLine(e)}`);
  }
  const adapter = await request(gpu).catch(() => null);
  if (adapter == null) throw new DawnError(whyNoDawnAdapter(options));
  const found = describe("dawn", gpu, adapter);
  // The null adapter names nothing; say what it is.
  return nullBackend ? { ...found, name: "Dawn null adapter (nothing executed)" } : found;
}

/**
 * The adapter `provider` offers: `dawn` and `deno` throw a one-line Error
 * when they have none; `auto` returns null when neither has one, and prefers
 * Dawn on hardware, then Deno's adapter, then Dawn's software one.
 */
export async function findAdapter(
  provider: WebGpuProvider,
  dawnOptions: DawnOptions = [],
): Promise<FoundAdapter | null> {
  if (provider === "dawn") return await dawnAdapter(dawnOptions);
  if (provider === "deno") {
    if (denoGpu() == null) {
      throw new Error("Deno's navigator.gpu is missing (run deno with --unstable-webgpu)");
    }
    const found = await denoAdapter();
    if (found == null) throw new Error("Deno's navigator.gpu offers no adapter");
    return found;
  }
  const gpu = gpuDevices();
  // Where no GPU is (or may be), Deno's adapter first: a software one means Vulkan has no GPU
  // here, and asking Dawn would print its warnings about the software driver before every run.
  const early = gpu === true ? undefined : await denoAdapter().catch(() => null);
  if (early != null && (gpu === false || early.fallback)) return early;
  if (gpu === false) return await dawnAdapter(dawnOptions).catch(() => null);
  const dawn = await dawnAdapter(dawnOptions).catch(() => null);
  if (dawn != null && !dawn.fallback) return dawn;
  const deno = early === undefined ? await denoAdapter().catch(() => null) : early;
  return deno ?? dawn;
}

/**
 * Whether this machine has a GPU device node: true or false on Linux when
 * /dev can be read (a /dev/dri/renderD* or /dev/nvidia0), undefined when it
 * cannot tell (Deno asks for --allow-all to read /dev; other systems).
 */
function gpuDevices(): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    if ([...Deno.readDirSync("/dev/dri")].some((e) => e.name.startsWith("renderD"))) return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return undefined;
  }
  try {
    Deno.statSync("/dev/nvidia0");
    return true;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? false : undefined;
  }
}
