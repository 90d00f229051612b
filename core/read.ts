/**
 * Reading tensor values on the host, asynchronously. Shears never reads with
 * `dataSync` / `arraySync` / `bufferSync`: the webgpu backend cannot read GPU
 * memory synchronously (in Deno it crashes). These helpers compute small
 * results inside a tidy and fetch them in one read.
 *
 * @example
 * ```ts
 * const n = await readScalar(() => mask.sum());
 * const [a, b] = await readScalars(() => [x.max(), x.min()]);
 * ```
 * @module
 */
import { tf } from "./tf.ts";

/** The values of the scalars `fn` computes (inside a tidy; one dtype), fetched in one read. */
export async function readScalars(fn: () => tf.Tensor[]): Promise<number[]> {
  const all = tf.tidy(() => {
    const parts = fn();
    return parts.length ? tf.stack(parts.map((t) => t.reshape([]))) : undefined;
  });
  if (!all) return [];
  try {
    return Array.from(await all.data());
  } finally {
    all.dispose();
  }
}

/** The value of the scalar `fn` computes (inside a tidy). */
export async function readScalar(fn: () => tf.Tensor): Promise<number> {
  return (await readScalars(() => [fn()]))[0];
}
