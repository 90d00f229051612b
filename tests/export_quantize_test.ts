/**
 * Weight quantization in tfjs's own format, decoded by tfjs itself
 * (`tf.io.decodeWeights`): float16 rounds to the nearest half (ties to even),
 * uint8 / uint16 stay within half a step and keep zeros exactly zero.
 */
import { float16Bits, initBackend, quantizeWeights, tf, UsageError } from "@shears/core";
import { equal, ok, throws } from "./assert.ts";

await initBackend("cpu", { quiet: true });

type Spec = tf.io.WeightsManifestEntry;

/** What tfjs decodes from quantized `specs` + `data`, by weight name. */
async function decode(specs: Spec[], data: Uint8Array): Promise<Map<string, Float32Array>> {
  const tensors = tf.io.decodeWeights(data.slice().buffer, specs);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(tensors)) {
    out.set(name, Float32Array.from(await t.data()));
    t.dispose();
  }
  return out;
}

/** tfjs' float32 value of each half-precision bit pattern in `bits`. */
async function halves(bits: Uint16Array): Promise<Float32Array> {
  const spec: Spec = {
    name: "h",
    shape: [bits.length],
    dtype: "float32",
    quantization: { dtype: "float16" },
  };
  return (await decode([spec], new Uint8Array(bits.buffer))).get("h")!;
}

Deno.test("float16Bits inverts tfjs' float16 decoding for every finite half", async () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const values = await halves(all);
  let checked = 0;
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff)) continue; // NaN payloads
    equal(float16Bits(values[h]), h, `half 0x${h.toString(16)} = ${values[h]}`);
    checked++;
  }
  equal(checked, 65536 - 2 * 1023);
});

Deno.test("float16Bits rounds to the nearest half, ties to even, subnormals and overflow included", async () => {
  // every adjacent pair of positive finite halves (normal and subnormal): the midpoint (exact in
  // float32) goes to the even one, a hair either side of it to the nearer one
  const lo = Uint16Array.from({ length: 0x7bff }, (_, i) => i);
  const a = await halves(lo), b = await halves(lo.map((h) => h + 1));
  for (let i = 0; i < lo.length; i++) {
    const mid = (a[i] + b[i]) / 2, h = lo[i];
    equal(float16Bits(mid), h % 2 === 0 ? h : h + 1, `tie between 0x${h.toString(16)} and next`);
    const step = (b[i] - a[i]) / 8;
    equal(float16Bits(mid - step), h);
    equal(float16Bits(mid + step), h + 1);
  }
  equal(float16Bits(65504), 0x7bff);
  equal(float16Bits(65519), 0x7bff, "below the rounding limit");
  equal(float16Bits(65520), 0x7c00, "rounds up to infinity");
  equal(float16Bits(2 ** -25), 0, "half the smallest subnormal: tie to even (0)");
  equal(float16Bits(2 ** -25 * 1.0001), 1);
  equal(float16Bits(-0), 0x8000);
});

/** Seeded weights with exact zeros (a pruned kernel), an int32 weight and an all-zero weight. */
function weights(): { specs: Spec[]; data: ArrayBuffer; values: Float32Array[] } {
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const kernel = Float32Array.from({ length: 300 }, () => next() < 0.6 ? 0 : 2 * next() - 0.7);
  const bias = Float32Array.from({ length: 5 }, () => 3 * next());
  const zeros = new Float32Array(4);
  const ints = Int32Array.from([3, -1, 7]);
  const specs: Spec[] = [
    { name: "kernel", shape: [3, 100], dtype: "float32" },
    { name: "steps", shape: [3], dtype: "int32" },
    { name: "bias", shape: [5], dtype: "float32" },
    { name: "zeros", shape: [4], dtype: "float32" },
  ];
  const parts = [kernel, ints, bias, zeros].map((a) => new Uint8Array(a.buffer));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
  return { specs, data: data.buffer, values: [kernel, bias, zeros] };
}

for (const [dtype, levels] of [["uint8", 255], ["uint16", 65535]] as const) {
  Deno.test(`${dtype}: within half a step of every weight, zeros stay exactly zero, ints untouched`, async () => {
    const w = weights();
    const q = quantizeWeights(w.specs, w.data, dtype);
    equal(q.data.byteLength, (300 + 5 + 4) * (dtype === "uint8" ? 1 : 2) + 3 * 4);
    const got = await decode(q.specs, q.data);
    for (
      const [name, want] of [["kernel", w.values[0]], ["bias", w.values[1]], [
        "zeros",
        w.values[2],
      ]] as const
    ) {
      const spec = q.specs.find((s) => s.name === name)!;
      equal(spec.quantization?.dtype, dtype);
      const lo = Math.min(0, ...want), hi = Math.max(0, ...want);
      const step = hi === lo ? 1 : (hi - lo) / levels;
      const values = got.get(name)!;
      for (let i = 0; i < want.length; i++) {
        ok(Math.abs(values[i] - want[i]) <= step / 2 + 1e-6 * Math.abs(want[i]), `${name}[${i}]`);
        if (want[i] === 0) equal(values[i], 0, `${name}[${i}] was pruned: must stay 0`);
      }
    }
    equal(q.specs.find((s) => s.name === "steps")!.quantization, undefined);
    equal(Array.from(got.get("steps")!).join(), "3,-1,7");
  });
}

Deno.test("float16: half the bytes of the float32 weights; refuses a weight beyond the half range", async () => {
  const w = weights();
  const q = quantizeWeights(w.specs, w.data, "float16");
  equal(q.data.byteLength, (300 + 5 + 4) * 2 + 3 * 4);
  const got = await decode(q.specs, q.data);
  const kernel = got.get("kernel")!;
  for (let i = 0; i < 300; i++) {
    ok(Math.abs(kernel[i] - w.values[0][i]) <= 2 ** -11 * Math.abs(w.values[0][i]), `kernel[${i}]`);
  }
  const big = new Float32Array([1, 70000]);
  throws(
    () =>
      quantizeWeights([{ name: "fc/kernel", shape: [2], dtype: "float32" }], big.buffer, "float16"),
    (e: Error) => e instanceof UsageError && /weight fc\/kernel .*float16's range/.test(e.message),
  );
  const same = quantizeWeights(w.specs, w.data);
  equal(same.data.byteLength, w.data.byteLength, "no quantization: the bytes as they are");
});
