/**
 * The gradient of FusedBatchNorm (every BatchNormalization layer in training)
 * in at most 6 webgpu dispatches instead of tfjs-core's ~25 (a chain of
 * elementwise ops, a Tile, and four Sums of two dispatches each).
 *
 * With invstd = rsqrt(var + eps), s = scale, per channel c:
 *   S0 = Σ dy,  S1 = Σ dy·(x − mean)       (one reduction program for both)
 *   dx = dy · s · invstd                     (one elementwise program)
 *   dmean = −s·invstd·S0,  dvar = −½·s·invstd³·S1,  dscale = invstd·S1,  doffset = S0
 *                                            (one small program each)
 * The reduction splits the rows (N·H·W) across workgroups as well as the
 * channels, and writes partial sums that the per-channel programs add up, so a
 * big GPU gets parallel work without an extra dispatch.
 * Used on webgpu for NHWC-style inputs (per-channel mean of rank 1) with a
 * scale; everything else goes to tfjs-core's gradient.
 * @module
 */
import { tf } from "../../tf.ts";

/** A WebGPU program as tfjs-backend-webgpu runs it (its WebGPUProgram interface). */
interface Program {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  uniforms?: string;
  workgroupSize: [number, number, number];
  size?: boolean;
  getUserCode(): string;
}

/** The part of the webgpu backend the programs are run with. */
interface GpuBackend {
  runWebGPUProgram(
    program: Program,
    inputs: tf.TensorInfo[],
    dtype: "float32",
    uniforms?: { type: "float32" | "int32"; data: number[] }[],
  ): tf.TensorInfo;
}

/** Channels per workgroup, and lanes per channel, of the reduction. */
const CHANNELS = 16, LANES = 16;
/** Most row splits of the reduction (each a row of workgroups). */
const MAX_SPLITS = 64;
/** Fewest rows a split is worth. */
const MIN_ROWS = 256;

/** Rows splits for `m` rows: enough workgroups for a GPU, none shorter than MIN_ROWS. */
export function rowSplits(m: number): number {
  return Math.max(1, Math.min(MAX_SPLITS, Math.floor(m / MIN_ROWS)));
}

/** [splits, 2, C] partial sums of dy and dy·(x − mean) over the rows of x, dy [M, C]. */
class SumsProgram implements Program {
  variableNames = ["x", "dy", "mean"];
  uniforms = "rowsPerSplit : i32,";
  workgroupSize: [number, number, number] = [CHANNELS, LANES, 1];
  dispatchLayout = { x: [2], y: [0] };
  dispatch: [number, number, number];
  outputShape: number[];
  shaderKey = "shears_bn_grad_sums";
  constructor(splits: number, channels: number) {
    this.outputShape = [splits, 2, channels];
    this.dispatch = [Math.ceil(channels / CHANNELS), splits, 1];
  }
  getUserCode(): string {
    return `
      var<workgroup> partial : array<vec2<f32>, ${CHANNELS * LANES}>;
      fn main() {
        let rows = uniforms.xShape[0];
        let channels = uniforms.xShape[1];
        let lane = i32(localId.y);
        let c = i32(workgroupId.x) * ${CHANNELS} + i32(localId.x);
        let split = i32(workgroupId.y);
        let end = min(rows, (split + 1) * uniforms.rowsPerSplit);
        var acc = vec2<f32>(0.0, 0.0);
        if (c < channels) {
          let mu = mean[c];
          for (var m = split * uniforms.rowsPerSplit + lane; m < end; m = m + ${LANES}) {
            let g = dy[m * channels + c];
            acc = acc + vec2<f32>(g, g * (x[m * channels + c] - mu));
          }
        }
        let slot = i32(localIndex);
        partial[slot] = acc;
        workgroupBarrier();
        for (var half = ${LANES / 2}; half > 0; half = half / 2) {
          if (lane < half) {
            partial[slot] = partial[slot] + partial[slot + half * ${CHANNELS}];
          }
          workgroupBarrier();
        }
        if (lane == 0 && c < channels) {
          setOutputAtIndex((split * 2) * channels + c, partial[slot].x);
          setOutputAtIndex((split * 2 + 1) * channels + c, partial[slot].y);
        }
      }`;
  }
}

/** dx = dy · scale · rsqrt(variance + eps), dy [M, C]. */
class DxProgram implements Program {
  variableNames = ["dy", "scale", "variance"];
  uniforms = "eps : f32,";
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  outputShape: number[];
  shaderKey = "shears_bn_grad_dx";
  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: [0, 1] };
    this.dispatch = [Math.ceil(shape[0] * shape[1] / 64), 1, 1];
  }
  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let c = index % uniforms.dyShape[1];
          setOutputAtIndex(index, dy[index] * scale[c] * inverseSqrt(variance[c] + uniforms.eps));
        }
      }`;
  }
}

/** Which per-channel gradient a {@link ChannelProgram} computes. */
const WHICH = { mean: 0, variance: 1, scale: 2, offset: 3 } as const;

/** One per-channel gradient [C] from the partial sums [splits, 2, C]. */
class ChannelProgram implements Program {
  variableNames = ["sums", "scale", "variance"];
  uniforms = "eps : f32, which : i32,";
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  outputShape: number[];
  shaderKey = "shears_bn_grad_channel";
  constructor(channels: number) {
    this.outputShape = [channels];
    this.dispatch = [Math.ceil(channels / 64), 1, 1];
  }
  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let channels = uniforms.sumsShape[2];
          var s = vec2<f32>(0.0, 0.0);
          for (var k = 0; k < uniforms.sumsShape[0]; k = k + 1) {
            s = s + vec2<f32>(sums[(k * 2) * channels + index], sums[(k * 2 + 1) * channels + index]);
          }
          let invstd = inverseSqrt(variance[index] + uniforms.eps);
          let g = scale[index];
          var out = s.x;
          if (uniforms.which == 0) {
            out = -g * invstd * s.x;
          } else if (uniforms.which == 1) {
            out = -0.5 * g * invstd * invstd * invstd * s.y;
          } else if (uniforms.which == 2) {
            out = invstd * s.y;
          }
          setOutputAtIndex(index, out);
        }
      }`;
  }
}

/** The kernel names the gradient runs on webgpu. */
export const SUMS_KERNEL = "ShearsBatchNormGradSums";
export const DX_KERNEL = "ShearsBatchNormGradDx";
export const CHANNEL_KERNEL = "ShearsBatchNormGradChannel";

/** Runs `program` on the webgpu backend of a kernel call. */
function run(
  kernel: string,
  make: (inputs: Record<string, tf.TensorInfo>) => Program,
  names: string[],
  uniforms: (
    inputs: Record<string, tf.TensorInfo>,
    attrs: tf.NamedAttrMap,
  ) => { type: "float32" | "int32"; data: number[] }[],
): tf.KernelConfig {
  return {
    kernelName: kernel,
    backendName: "webgpu",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const byName = inputs as Record<string, tf.TensorInfo>;
      return (backend as unknown as GpuBackend).runWebGPUProgram(
        make(byName),
        names.map((n) => byName[n]),
        "float32",
        uniforms(byName, attrs ?? {}),
      );
    },
  };
}

/** The three webgpu kernels of the fused gradient. */
export const batchNormGradKernels: tf.KernelConfig[] = [
  run(
    SUMS_KERNEL,
    ({ x }) => new SumsProgram(rowSplits(x.shape[0]), x.shape[1]),
    ["x", "dy", "mean"],
    ({ x }) => [{ type: "int32", data: [Math.ceil(x.shape[0] / rowSplits(x.shape[0]))] }],
  ),
  run(
    DX_KERNEL,
    ({ dy }) => new DxProgram(dy.shape),
    ["dy", "scale", "variance"],
    (_, attrs) => [{ type: "float32", data: [attrs.eps as number] }],
  ),
  run(
    CHANNEL_KERNEL,
    ({ sums }) => new ChannelProgram(sums.shape[2]),
    ["sums", "scale", "variance"],
    (_, attrs) => [
      { type: "float32", data: [attrs.eps as number] },
      { type: "int32", data: [attrs.which as number] },
    ],
  ),
];

/**
 * FusedBatchNorm's gradient config: the fused kernels when `use()` says so
 * and the inputs fit (per-channel statistics, a scale), else `original`.
 */
export function batchNormGradConfig(
  original: tf.GradConfig,
  use: () => boolean,
): tf.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved;
      const channels = x.shape[x.rank - 1];
      const fits = use() && scale != null && mean.rank === 1 && variance.rank === 1 &&
        scale.rank === 1 && mean.shape[0] === channels && x.rank >= 2;
      if (!fits) return original.gradFunc(dy, saved, attrs);
      const eps = attrs.varianceEpsilon as number;
      const dy2 = (dy as tf.Tensor).reshape([-1, channels]);
      const x2 = x.reshape([-1, channels]);
      // Here, not in the closures: tfjs runs each closure in a tidy of its own, which would
      // dispose sums shared between them.
      const sums = tf.engine().runKernel(SUMS_KERNEL, { x: x2, dy: dy2, mean }) as tf.Tensor;
      const channel = (which: keyof typeof WHICH) => () =>
        tf.engine().runKernel(CHANNEL_KERNEL, { sums, scale, variance }, {
          eps,
          which: WHICH[which],
        }) as tf.Tensor;
      return {
        x: () =>
          (tf.engine().runKernel(DX_KERNEL, { dy: dy2, scale, variance }, { eps }) as tf.Tensor)
            .reshape(x.shape),
        mean: channel("mean"),
        variance: channel("variance"),
        scale: channel("scale"),
        offset: channel("offset"),
      };
    },
  };
}
