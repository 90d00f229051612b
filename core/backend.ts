/**
 * Picks and initialises the tfjs backend for a run (`--backend`).
 *
 * `auto` takes the fastest backend that works here: tfjs-node-gpu (CUDA via
 * libtensorflow) if it is installed and runs, else WebGPU on a hardware
 * adapter, else wasm (XNNPACK, with Shears' gradient kernels), else the pure-JS
 * cpu backend. A named backend is used even when slow (WebGPU on a software
 * adapter) and fails with a one-line {@link BackendError} when it cannot run.
 *
 * @example
 * ```ts
 * const info = await initBackend("auto");
 * // stderr: "backend: wasm on Intel(R) Xeon(R) ... (2 cores), SIMD on, threads off"
 * ctx.backend = info;
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import type { BackendInfo } from "./pipeline.ts";
import { initTensorflow, TENSORFLOW_INSTALL_HINT } from "./backends/tensorflow.ts";
import { type DawnOptions, initWebGpu, type WebGpuProvider } from "./backends/webgpu/mod.ts";
export {
  type AdapterProbe,
  countDispatches,
  DawnError,
  type DispatchCounts,
  FUSED_BN_GRAD,
  FUSED_OPTIMIZER,
  PARALLEL_FILTER_GRADS,
  probeAdapter,
  type WebGpuProvider,
  webgpuProviders,
} from "./backends/webgpu/mod.ts";
export { cpuName } from "./backends/host.ts";
import { initWasm } from "./backends/wasm/init.ts";
import { webgpuProviders as webgpuProviderNames } from "./backends/webgpu/mod.ts";
import { cpuName, firstLine } from "./backends/host.ts";

/** Values accepted by `--backend`. */
export type BackendName = "auto" | "tensorflow" | "webgpu" | "wasm" | "cpu";

/** Every {@link BackendName}, in the order `auto` prefers them (after "auto"). */
export const backendNames: readonly BackendName[] = ["auto", "tensorflow", "webgpu", "wasm", "cpu"];

/** A requested backend cannot be used here; the message is one line for the user. */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackendError";
  }
}

/**
 * One line for logs: "backend: wasm on <cpu> (2 cores), SIMD on, threads off",
 * "backend: webgpu (dawn) on NVIDIA H100 80GB HBM3".
 */
export function describeBackend(info: BackendInfo): string {
  const provider = info.provider ? ` (${info.provider})` : "";
  const parts = [`backend: ${info.name}${provider} on ${info.device}`];
  if (info.simd !== undefined) parts.push(`SIMD ${info.simd ? "on" : "off"}`);
  if (info.threads !== undefined) parts.push(`threads ${info.threads ? "on" : "off"}`);
  return parts.join(", ");
}

function initCpu(): Promise<BackendInfo> {
  return tf.setBackend("cpu").then((ok) => {
    if (!ok) throw new Error("the cpu backend failed to initialise");
    return { name: "cpu", device: cpuName() };
  });
}

/** How to initialise: the WebGPU provider (`--webgpu`), and log output. */
export interface BackendOptions {
  /** Print nothing (the choice is still returned). */
  quiet?: boolean;
  /** Where WebGPU comes from (`--webgpu`); default auto. */
  webgpu?: WebGpuProvider;
  /** Options for Dawn's create(), e.g. ["backend=null"] (bench/profile_step.ts). */
  dawnOptions?: DawnOptions;
}

async function initNamed(
  name: Exclude<BackendName, "auto">,
  opts: BackendOptions,
): Promise<BackendInfo> {
  try {
    switch (name) {
      case "tensorflow":
        return await initTensorflow(false);
      case "webgpu":
        return await initWebGpu(true, opts.webgpu, opts.dawnOptions);
      case "wasm":
        return await initWasm();
      case "cpu":
        return await initCpu();
    }
  } catch (e) {
    const hint = name === "tensorflow" ? `; ${TENSORFLOW_INSTALL_HINT}` : "";
    const via = name === "webgpu" && opts.webgpu && opts.webgpu !== "auto"
      ? ` --webgpu ${opts.webgpu}`
      : "";
    throw new BackendError(`--backend ${name}${via} is not usable here: ${firstLine(e)}${hint}`);
  }
}

async function initAuto(opts: BackendOptions): Promise<BackendInfo> {
  const attempts: (() => Promise<BackendInfo>)[] = [
    () => initTensorflow(true),
    () => initWebGpu(false, opts.webgpu, opts.dawnOptions),
    initWasm,
    initCpu,
  ];
  const reasons: string[] = [];
  for (const attempt of attempts) {
    try {
      return await attempt();
    } catch (e) {
      reasons.push(firstLine(e));
    }
  }
  throw new BackendError(`--backend auto found no usable backend: ${reasons.join("; ")}`);
}

/**
 * Initialises and selects a backend; returns what to print and record (it is
 * printed to stderr unless `quiet`). Throws {@link BackendError} (one clear
 * line) when an explicitly requested backend cannot be used. `webgpu` names
 * the WebGPU provider: with `--backend webgpu` a named provider that cannot
 * run is an error; `--backend auto` falls through to wasm as always.
 *
 * @example
 * ```ts
 * try {
 *   ctx.backend = await initBackend(flags.backend as BackendName, { webgpu: "auto" });
 * } catch (e) {
 *   if (e instanceof BackendError) { console.error(e.message); Deno.exit(2); }
 *   throw e;
 * }
 * ```
 */
export async function initBackend(
  name: BackendName,
  opts: BackendOptions = {},
): Promise<BackendInfo> {
  if (!backendNames.includes(name)) {
    throw new BackendError(`--backend must be one of ${backendNames.join(", ")}, got ${name}`);
  }
  if (opts.webgpu && !webgpuProviderNames.includes(opts.webgpu)) {
    throw new BackendError(
      `--webgpu must be one of ${webgpuProviderNames.join(", ")}, got ${opts.webgpu}`,
    );
  }
  const info = name === "auto" ? await initAuto(opts) : await initNamed(name, opts);
  await tf.ready();
  if (!opts.quiet) console.error(describeBackend(info));
  return info;
}
