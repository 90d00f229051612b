/**
 * The `tensorflow` backend: libtensorflow through tfjs-node-gpu (CUDA) or
 * tfjs-node (CPU). Neither is a dependency of Shears: they are imported only
 * when selected (or tried by `auto`), by a specifier built at run time so that
 * `deno check` / `deno test` never resolve or install them.
 * @module
 */
import { tf } from "../tf.ts";
import type { BackendInfo } from "../pipeline.ts";
import { firstLine } from "./host.ts";

/** How to install the native backend, for error messages. */
export const TENSORFLOW_INSTALL_HINT =
  "install it where libtensorflow can be downloaded (GPU: CUDA 11.2 + cuDNN 8): " +
  "deno add npm:@tensorflow/tfjs-node-gpu@4.22.0 && " +
  "deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu";

const PACKAGES = { gpu: "tfjs-node-gpu", cpu: "tfjs-node" } as const;

/** Deno's / Node's wording for a package that is not resolvable. */
const MISSING =
  /not a dependency|not in import map|Cannot find (module|package)|ERR_MODULE_NOT_FOUND/i;

interface NodeBackend {
  isUsingGpuDevice?: boolean;
}

/**
 * Imports tfjs-node-gpu (then, unless `gpuOnly`, tfjs-node), selects the
 * `tensorflow` backend and runs one op on it. Throws an Error whose message is
 * one line saying why, when no package imports and works.
 */
export async function initTensorflow(gpuOnly: boolean): Promise<BackendInfo> {
  const tried = gpuOnly ? [PACKAGES.gpu] : [PACKAGES.gpu, PACKAGES.cpu];
  const reasons: string[] = [];
  for (const pkg of tried) {
    try {
      // A runtime-built bare specifier: resolved only through the user's import map.
      const specifier = ["@tensorflow", pkg].join("/");
      await import(specifier);
      if (!(await tf.setBackend("tensorflow"))) throw new Error("backend failed to initialise");
      tf.tidy(() => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync());
      const gpu = (tf.backend() as unknown as NodeBackend).isUsingGpuDevice === true;
      return { name: "tensorflow", device: gpu ? `CUDA GPU (${pkg})` : `CPU (${pkg})` };
    } catch (e) {
      const why = firstLine(e);
      reasons.push(
        `@tensorflow/${pkg} ${MISSING.test(why) ? "is not installed" : `failed: ${why}`}`,
      );
    }
  }
  throw new Error(reasons.join("; "));
}
