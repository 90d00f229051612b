/**
 * The export's proof that it needs no Shears: a subprocess (this deno, the
 * script `plain_check.ts`, which imports only `@tensorflow/tfjs`) loads the
 * export directory with stock tfjs on its cpu backend and runs the export's
 * sample images; its outputs come back for comparison with the Shears
 * model's, under a bar relative to the scale of the outputs (see
 * {@link compareOutputs}).
 *
 * @example
 * ```ts
 * const plain = await plainTfjsOutputs("runs/x/export");
 * const { max_rel_diff, within } = compareOutputs(plain.outputs, shearsOutputs);
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

/**
 * The absolute part of the float32 bar (see {@link compareOutputs}): the one
 * that matters for outputs whose largest |value| is below 0.1.
 *
 * @example
 * ```ts
 * compareOutputs([0.01005], [0.01]).tolerance; // EXPORT_ATOL + EXPORT_RTOL * 0.01 = 1.1e-4
 * ```
 */
export const EXPORT_ATOL = 1e-4;

/**
 * The relative part of the float32 bar, a fraction of the largest |output|.
 * Measured on exports: float32 rounding (BN folded into the convs, another
 * backend) moves a randomly initialised ResNet-50's outputs by up to 1.3e-4
 * of that scale and the small pruned models of the tests' by 3e-7 to 2.4e-6,
 * while one wrong weight (a median one of any conv or dense, set to zero)
 * moves theirs by 3.5e-3 to 0.9, unless it feeds a unit that is dead on the
 * samples.
 *
 * @example
 * ```ts
 * compareOutputs([1e6 + 500], [1e6]).within; // true: 500 <= 1e-4 + 1e-3 * 1e6
 * ```
 */
export const EXPORT_RTOL = 1e-3;

/**
 * The float32 bar in words, for logs and warnings.
 *
 * @example
 * ```ts
 * console.log(`max |diff| must be <= ${EXPORT_BAR}`); // "1e-4 + 1e-3 x max |output|"
 * ```
 */
export const EXPORT_BAR = `${EXPORT_ATOL.toExponential(0)} + ${
  EXPORT_RTOL.toExponential(0)
} x max |output|`;

/** How far an export's outputs are from Shears' (report.json's `export.verify` figures). */
export interface OutputComparison {
  /** max |export - Shears| over the outputs. */
  max_abs_diff: number;
  /** max |Shears| over the outputs: the scale the bar is relative to. */
  output_scale: number;
  /** max_abs_diff / output_scale (0 when both are 0). */
  max_rel_diff: number;
  /** The float32 bar on max_abs_diff: EXPORT_ATOL + EXPORT_RTOL * output_scale. */
  tolerance: number;
  /** max_abs_diff <= tolerance. */
  within: boolean;
}

/**
 * Compares an export's outputs `got` with Shears' `want` under the float32
 * rule: every |got[i] - want[i]| <= {@link EXPORT_ATOL} + {@link EXPORT_RTOL}
 * * max_j |want[j]|. The bar follows the outputs' scale because float32
 * rounding does (a diverged model's logits of 1e6 differ by far more than
 * 1e-4 in any two computations); a NaN or ±Inf against a finite value, or
 * lengths that differ, are never within it.
 *
 * @example
 * ```ts
 * compareOutputs([10, -20.001], [10, -20]);
 * // { max_abs_diff: 0.001, output_scale: 20, max_rel_diff: 5e-5, tolerance: 0.0201, within: true }
 * ```
 */
export function compareOutputs(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): OutputComparison {
  const diff = maxAbsDiff(got, want);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  const tolerance = EXPORT_ATOL + EXPORT_RTOL * scale;
  return {
    max_abs_diff: diff,
    output_scale: scale,
    max_rel_diff: diff === 0 ? 0 : diff / scale,
    tolerance,
    within: diff <= tolerance,
  };
}

/** The first NaN or ±Inf among a model's outputs: where, and how many there are. */
export interface NonFiniteOutput {
  /** The test image (row) it is in. */
  image: number;
  /** The output (column) it is, e.g. the class of a logit. */
  output: number;
  value: number;
  /** How many of the outputs are NaN or ±Inf. */
  count: number;
}

/**
 * The first NaN or ±Inf in `values` (outputs on a batch of images, row-major,
 * `perImage` to a row), or undefined when all are finite.
 *
 * @example
 * ```ts
 * nonFiniteOutput(new Float32Array([1, 2, NaN, Infinity]), 2);
 * // { image: 1, output: 0, value: NaN, count: 2 }
 * ```
 */
export function nonFiniteOutput(
  values: ArrayLike<number>,
  perImage: number,
): NonFiniteOutput | undefined {
  let first = -1, count = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) continue;
    if (first < 0) first = i;
    count++;
  }
  if (first < 0) return undefined;
  const image = Math.floor(first / perImage);
  return { image, output: first - image * perImage, value: values[first], count };
}
