/**
 * Weight quantization in TensorFlow.js's own format, the one its converter
 * writes and every tfjs loader decodes (`quantization` in a weights manifest
 * entry): `float16` (IEEE half precision, round to nearest even), or affine
 * `uint8` / `uint16` (value = q * scale + min) with the converter's range
 * nudged so that 0 is a code: a zero weight stays exactly zero, so pruned
 * weights stay pruned (and keep compressing). Only float32 weights are
 * quantized; others pass through.
 *
 * @example
 * ```ts
 * const q = quantizeWeights(artifacts.weightSpecs!, weightBytes, "float16");
 * // q.specs[i].quantization: { dtype: "float16" }; q.data: half the bytes
 * ```
 * @module
 */
import type { tf } from "../tf.ts";
import { UsageError } from "../errors.ts";

/** A tfjs weight quantization. */
export type Quantization = "float16" | "uint8" | "uint16";

/** The quantizations, for flag choices. */
export const quantizations: readonly Quantization[] = ["float16", "uint8", "uint16"];

type Spec = tf.io.WeightsManifestEntry;

const BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  float16: 2,
  uint8: 1,
  uint16: 2,
};

/** The largest float32 that rounds to a finite half (65504 plus half a step, exclusive). */
const HALF_LIMIT = 65520;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The IEEE half-precision bits of `v` (rounded to nearest, ties to even;
 * subnormals kept; beyond the half range: infinity; NaN stays NaN).
 *
 * @example
 * ```ts
 * float16Bits(1); // 0x3c00
 * ```
 */
export function float16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // half's biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e > 0) {
    const half = sign | (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    return rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? half + 1 : half;
  }
  if (e < -10) return sign;
  const full = 0x800000 | mant, shift = 14 - e;
  const half = full >>> shift, rest = full & ((1 << shift) - 1), tie = 1 << (shift - 1);
  return sign | (rest > tie || (rest === tie && (half & 1)) ? half + 1 : half);
}

/** `values` as half-precision bits; refuses values beyond the half range. */
function toFloat16(name: string, values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (Math.abs(values[i]) >= HALF_LIMIT) {
      throw new UsageError(
        `weight ${name} has a value ${values[i]} beyond float16's range (65504); ` +
          `use --quantize uint16 or uint8`,
      );
    }
    out[i] = float16Bits(values[i]);
  }
  return out;
}

/** Affine quantization as tfjs-converter does it: range forced to include 0, 0 nudged onto a code. */
function toAffine(
  values: Float32Array,
  dtype: "uint8" | "uint16",
): { codes: Uint8Array | Uint16Array; min: number; scale: number } {
  const top = dtype === "uint8" ? 255 : 65535;
  let lo = 0, hi = 0;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const codes = dtype === "uint8" ? new Uint8Array(values.length) : new Uint16Array(values.length);
  if (hi === lo) return { codes, min: 0, scale: 1 };
  const scale = (hi - lo) / top;
  const min = -Math.round(-lo / scale) * scale, max = top * scale + min;
  for (let i = 0; i < values.length; i++) {
    const v = Math.min(max, Math.max(min, values[i]));
    codes[i] = Math.round((v - min) / scale);
  }
  return { codes, min, scale };
}

/**
 * `data` (the concatenated weights `specs` describe, as tfjs saves them)
 * with every float32 weight quantized to `dtype`; new specs say how. Without
 * `dtype`, the input as it is.
 *
 * @throws {UsageError} for float16 with a weight beyond the half range.
 *
 * @example
 * ```ts
 * const { specs, data } = quantizeWeights(artifacts.weightSpecs!, weightBytes, "uint8");
 * ```
 */
export function quantizeWeights(
  specs: Spec[],
  data: ArrayBuffer,
  dtype?: Quantization,
): { specs: Spec[]; data: Uint8Array } {
  if (!dtype) return { specs, data: new Uint8Array(data) };
  const parts: Uint8Array[] = [];
  const out: Spec[] = [];
  let at = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = n * BYTES[spec.quantization?.dtype ?? spec.dtype];
    if (!(bytes >= 0)) throw new Error(`weight ${spec.name}: unsupported dtype ${spec.dtype}`);
    if (spec.dtype !== "float32" || spec.quantization) {
      parts.push(new Uint8Array(data, at, bytes));
      out.push(spec);
    } else {
      const values = new Float32Array(data.slice(at, at + bytes));
      if (dtype === "float16") {
        parts.push(new Uint8Array(toFloat16(spec.name, values).buffer));
        out.push({ ...spec, quantization: { dtype } });
      } else {
        const { codes, min, scale } = toAffine(values, dtype);
        parts.push(new Uint8Array(codes.buffer));
        out.push({ ...spec, quantization: { dtype, min, scale } });
      }
    }
    at += bytes;
  }
  const joined = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    joined.set(p, o);
    o += p.byteLength;
  }
  return { specs: out, data: joined };
}
