/**
 * The export's proof that it needs no Shears: a subprocess (this deno, the
 * script `plain_check.ts`, which imports only `@tensorflow/tfjs`) loads the
 * export directory with stock tfjs on its cpu backend and runs the export's
 * sample images; its outputs come back for comparison with the Shears
 * model's.
 *
 * @example
 * ```ts
 * const plain = await plainTfjsOutputs("runs/x/export");
 * const diff = maxAbsDiff(plain.outputs, shearsOutputs);
 * ```
 * @module
 */

/** What the plain-tfjs subprocess computed. */
export interface PlainOutputs {
  /** Outputs on the sample images, float32, row-major. */
  outputs: Float32Array;
  shape: number[];
  /** tfjs version and backend it ran on, e.g. "tfjs 4.22.0, cpu". */
  runtime: string;
}

const script = new URL("./plain_check.ts", import.meta.url).pathname;

/** Runs `plain_check.ts` on the export in `dir` (with samples.json); throws with its stderr on failure.  *
 * @example
 * ```ts
 * const { outputs, runtime } = await plainTfjsOutputs("runs/x/export"); // runtime "tfjs 4.22.0, cpu"
 * ```
 */
export async function plainTfjsOutputs(dir: string): Promise<PlainOutputs> {
  const tmp = await Deno.makeTempDir({ prefix: "shears_plain_check_" });
  const out = `${tmp}/outputs.bin`;
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", `--allow-read=${dir}`, `--allow-write=${out}`, script, dir, out],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    if (run.code !== 0) {
      throw new Error(
        `the export in ${dir} does not load in plain tfjs: ${dec.decode(run.stderr).trim()}`,
      );
    }
    const info = JSON.parse(dec.decode(run.stdout).trim().split("\n").at(-1)!) as {
      tfjs: string;
      backend: string;
      shape: number[];
    };
    const bytes = await Deno.readFile(out);
    return {
      outputs: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
      shape: info.shape,
      runtime: `tfjs ${info.tfjs}, ${info.backend}`,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/**
 * The largest |a[i] - b[i]|: Infinity when the lengths differ or only one of
 * a pair is NaN; equal values (infinities, NaN pairs) differ by 0.
 *
 * @example
 * ```ts
 * maxAbsDiff(new Float32Array([1, 2]), new Float32Array([1, 2.5])); // 0.5
 * ```
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]];
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}
