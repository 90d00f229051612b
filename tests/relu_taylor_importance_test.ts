/**
 * The relu_taylor importance terms (P, F, D, S, layer weights, EMA) against a
 * plain-JS hand computation over several batches, fed through the session's
 * tap callbacks exactly as the training loop's backward pass calls them.
 */
import { MaskedReLU, Rng, type ScoreSession, tf } from "@shears/core";
import reluTaylor, { LayerWeights } from "@shears/relu_taylor";
import { allClose, deepEqual, equal, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { makeCtx, SHAPES, tinyModel } from "./relu_taylor_fixtures.ts";

await useTestBackend();

/** One batch: per layer, x and g as flat arrays (N * E) and N. */
interface LayerBatch {
  x: number[];
  g: number[];
  n: number;
}

function randomBatches(count: number, n: number, rng: Rng): LayerBatch[][] {
  return Array.from({ length: count }, () =>
    SHAPES.map((s) => {
      const e = s.reduce((a, b) => a * b, 1);
      const r = () => Math.round(rng.normal() * 100) / 100;
      return { x: Array.from({ length: n * e }, r), g: Array.from({ length: n * e }, r), n };
    }));
}

/** Feeds one batch the way the backward pass does: last layer first, output tap before input tap. */
async function feed(
  s: ScoreSession,
  batch: LayerBatch[],
  gradAt: "output" | "input" = "output",
) {
  for (let l = batch.length - 1; l >= 0; l--) {
    const { x, g, n } = batch[l];
    const shape = [n, ...SHAPES[l]];
    tf.tidy(() => {
      const xt = tf.tensor(x, shape), gt = tf.tensor(g, shape);
      const junk = tf.fill(shape, 1e6); // what the session must not read
      if (gradAt === "output") {
        s.onTap?.(`r${l}:output`, junk, gt);
        s.onTap?.(`r${l}:input`, xt, junk);
      } else {
        s.onTap?.(`r${l}:input`, xt, gt);
      }
    });
  }
  const xy = { x: tf.zeros([1]), y: tf.zeros([1]) as tf.Tensor1D };
  await s.onBatchEnd?.({ epoch: 0, batch: 0, globalStep: 0, batchesPerEpoch: 1, loss: 0 }, xy);
  tf.dispose([xy.x, xy.y]);
}

/** Mean over the batch of f(x_i, g_i), per element. */
function meanBatch(b: LayerBatch, f: (x: number, g: number) => number): number[] {
  const e = b.x.length / b.n;
  return Array.from({ length: e }, (_, j) => {
    let s = 0;
    for (let i = 0; i < b.n; i++) s += f(b.x[i * e + j], b.g[i * e + j]);
    return s / b.n;
  });
}

/** The spec, in plain JS (float64), independent of the plugin's code. */
function handTaylor(
  batches: LayerBatch[][],
  { terms = "both", history = 10, layerWeights = true } = {},
): number[][] {
  const L = SHAPES.length;
  const hist: number[][][] = Array.from({ length: L }, () => []);
  const D: (number[] | null)[] = Array(L).fill(null);
  const I: (number[] | null)[] = Array(L).fill(null);
  const G = new Map<number, number>(), Phi = new Map<number, number>();
  const base = new Map<number, number>();
  let seen = 0;
  const weight = (l: number) => {
    if (!base.has(l)) return 1;
    const all = [...base.values()];
    const lo = Math.min(...all), hi = Math.max(...all);
    return hi === lo ? 1 : (base.get(l)! - lo) / (hi - lo) + 0.1;
  };
  for (const batch of batches) {
    for (let l = 0; l < L; l++) {
      const b = batch[l];
      const e = b.x.length / b.n;
      let v = Array(e).fill(0);
      if (terms !== "second") {
        hist[l].push(meanBatch(b, (x) => (x < 0 ? 1 : 0)));
        if (hist[l].length > history) hist[l].shift();
        const P = Array.from(
          { length: e },
          (_, j) => hist[l].reduce((a, h) => a + h[j], 0) / hist[l].length,
        );
        const F = meanBatch(b, (x, g) => Math.abs(g * x)).map((f, j) => f * P[j]);
        v = v.map((a, j) => a + F[j]);
      }
      if (terms !== "first") {
        const g2 = meanBatch(b, (_, g) => g * g);
        D[l] = g2.map((q, j) => 0.99 * (D[l]?.[j] ?? 0) + 0.01 * q);
        const S = meanBatch(b, (x) => x * x).map((q, j) => 0.5 * q * D[l]![j]);
        v = v.map((a, j) => a + S[j]);
      }
      if (layerWeights) {
        const w = weight(l);
        v = v.map((a) => a * w);
        let normSum = 0;
        for (let i = 0; i < b.n; i++) {
          normSum += Math.sqrt(b.g.slice(i * e, (i + 1) * e).reduce((a, q) => a + q * q, 0));
        }
        const gradSq = b.g.reduce((a, q) => a + q * q, 0) / b.g.length;
        seen = Math.max(seen, l + 1);
        G.set(l, 0.95 * (G.get(l) ?? 0) + 0.05 * (normSum / b.n));
        Phi.set(l, 0.95 * (Phi.get(l) ?? 0) + 0.05 * gradSq);
        const depth = 1 + 0.2 * l / Math.max(1, seen - 1);
        base.set(l, G.get(l)! * Math.sqrt(Phi.get(l)! + 1e-8) * depth);
      }
      I[l] = v.map((a, j) => 0.95 * (I[l]?.[j] ?? 0) + 0.05 * a);
    }
  }
  return I.map((t, l) => t ?? Array(SHAPES[l].reduce((a, b) => a * b, 1)).fill(0));
}

async function scoreArrays(s: ScoreSession): Promise<number[][]> {
  const scores = await s.scores();
  equal(scores.target, "activations");
  const out = ["r0", "r1", "r2"].map((k, l) => {
    const t = scores.values.get(k)!;
    deepEqual(t.shape, SHAPES[l]);
    return Array.from(t.dataSync());
  });
  for (const t of scores.values.values()) t.dispose();
  return out;
}

async function checkAgainstHand(
  scorer: string,
  options: Record<string, unknown>,
  hand: Parameters<typeof handTaylor>[1],
  gradAt: "output" | "input" = "output",
) {
  const model = tinyModel();
  const session = reluTaylor.scorers![scorer].start(makeCtx(model), options);
  const batches = randomBatches(4, 3, new Rng(11));
  for (let b = 0; b < batches.length; b++) {
    await feed(session, batches[b], gradAt);
    const want = handTaylor(batches.slice(0, b + 1), hand);
    (await scoreArrays(session)).forEach((got, l) =>
      allClose(got, want[l], { rtol: 2e-4, atol: 1e-9 }, `${scorer} batch ${b + 1} r${l}`)
    );
  }
  session.dispose();
  model.dispose();
}

Deno.test("taylor: the reference's worked example (one layer, one batch)", async () => {
  const inp = tf.input({ shape: [1, 1, 2] });
  const y = new MaskedReLU({ name: "r" }).apply(inp) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: y });
  const s = reluTaylor.scorers!.taylor.start(makeCtx(model), {});
  tf.tidy(() => {
    s.onTap!("r:output", tf.zeros([2, 1, 1, 2]), tf.tensor([3, 5, 1, 2], [2, 1, 1, 2]));
    s.onTap!("r:input", tf.tensor([-2, 1, -4, -2], [2, 1, 1, 2]), tf.zeros([2, 1, 1, 2]));
  });
  // P = [1, 0.5]; F = [5, 4.5]·P = [5, 2.25]; D = 0.01·[5, 14.5]; S = 0.5·[10, 2.5]·D
  // v = F + S = [5.25, 2.43125] (w = 1: no layer seen yet); I = 0.05 v
  const scores = await s.scores();
  allClose(scores.values.get("r")!.dataSync(), [0.2625, 0.1215625], { rtol: 1e-6 }, "I");
  tf.dispose([...scores.values.values()]);
  s.dispose();
  model.dispose();
});

Deno.test("taylor = hand computation over 4 batches and 3 layers (P, F, D, S, w_l lag, EMA)", async () => {
  await checkAgainstHand("taylor", {}, {});
});

Deno.test("taylor: P history is the last `history` batches (3 of 4 here)", async () => {
  await checkAgainstHand("taylor", { history: 2 }, { history: 2 });
});

Deno.test("first_order and second_order = each term alone, same smoothing and weights", async () => {
  await checkAgainstHand("first_order", {}, { terms: "first" });
  await checkAgainstHand("second_order", {}, { terms: "second" });
});

Deno.test("taylor without layer weights; gradient taken at the input (grad_at option)", async () => {
  await checkAgainstHand("taylor", { layer_weights: false }, { layerWeights: false });
  await checkAgainstHand("taylor", { grad_at: "input" }, {}, "input");
});

Deno.test("layer weights: G, Phi, depth factor with L_seen, min-max to [0.1, 1.1]", () => {
  const lw = new LayerWeights();
  equal(lw.weight(0), 1, "unseen layer");
  lw.update(0, 2, 0.5);
  equal(lw.weight(0), 1, "one layer: all equal");
  lw.update(1, 1, 0.1);
  const b0 = 0.05 * 2 * Math.sqrt(0.05 * 0.5 + 1e-8) * 1; // L_seen = 1 at its update
  const b1 = 0.05 * 1 * Math.sqrt(0.05 * 0.1 + 1e-8) * 1.2; // L_seen = 2: 1 + 0.2·1/1
  equal(b0 > b1, true);
  allClose([lw.weight(0), lw.weight(1), lw.weight(7)], [1.1, 0.1, 1], {}, "weights");
  lw.update(2, 1, 0.1); // third layer: G = 0.05, Phi = 0.005, depth 1 + 0.2·2/2
  const b2 = 0.05 * Math.sqrt(0.005 + 1e-8) * 1.2;
  allClose([lw.weight(1)], [(b1 - b2) / (b0 - b2) + 0.1], { rtol: 1e-12 }, "w1 after layer 2");
  lw.update(0, 4, 1); // second batch of layer 0: EMA 0.95
  const g0 = 0.95 * 0.1 + 0.05 * 4, phi0 = 0.95 * 0.025 + 0.05 * 1;
  const b0b = g0 * Math.sqrt(phi0 + 1e-8); // depth 1 for layer 0
  allClose([lw.weight(2)], [(b2 - b1) / (b0b - b1) + 0.1], { rtol: 1e-12 }, "w2 after EMA");
});

Deno.test("activation baseline = EMA of mean |x|; random baseline is seeded and fixed", async () => {
  const model = tinyModel();
  const s = reluTaylor.scorers!.activation.start(makeCtx(model), {});
  deepEqual(s.taps.map((t) => `${t.layer}:${t.at}`), ["r0:input", "r1:input", "r2:input"]);
  const batches = randomBatches(3, 2, new Rng(5));
  for (const b of batches) await feed(s, b, "input");
  const want = SHAPES.map((_, l) =>
    batches.reduce(
      (I: number[] | null, b) =>
        meanBatch(b[l], (x) => Math.abs(x)).map((v, j) => 0.95 * (I?.[j] ?? 0) + 0.05 * v),
      null,
    )!
  );
  (await scoreArrays(s)).forEach((got, l) =>
    allClose(got, want[l], { rtol: 1e-5 }, `activation r${l}`)
  );
  s.dispose();

  const r1 = reluTaylor.scorers!.random.start(makeCtx(model, 3), {});
  const r2 = reluTaylor.scorers!.random.start(makeCtx(model, 3), {});
  const r3 = reluTaylor.scorers!.random.start(makeCtx(model, 4), {});
  const [a, b, c] = await Promise.all([r1, r2, r3].map(scoreArrays));
  deepEqual(a, b, "same seed, same scores");
  deepEqual(a, await scoreArrays(r1), "fixed across calls");
  equal(JSON.stringify(a) === JSON.stringify(c), false, "another seed differs");
  [r1, r2, r3].forEach((r) => r.dispose());
  model.dispose();
});

Deno.test("taylor session: no tensor growth across batches, nothing left after dispose", async () => {
  const model = tinyModel();
  const before = tf.memory().numTensors;
  const s = reluTaylor.scorers!.taylor.start(makeCtx(model), { history: 3 });
  const batches = randomBatches(8, 2, new Rng(3));
  const counts: number[] = [];
  for (const b of batches) {
    await feed(s, b);
    tf.dispose([...(await s.scores()).values.values()]);
    counts.push(tf.memory().numTensors);
  }
  deepEqual(counts.slice(3), Array(5).fill(counts[2]), `numTensors per batch: ${counts}`);
  s.dispose();
  equal(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("taylor: clear errors for bad options and models without MaskedReLU", () => {
  const model = tinyModel();
  throws(() => reluTaylor.scorers!.taylor.start(makeCtx(model), { history: 0 }), /history must be/);
  throws(() => reluTaylor.scorers!.taylor.start(makeCtx(model), { grad_at: "x" }), /grad_at/);
  const inp = tf.input({ shape: [2] });
  const plain = tf.model({
    inputs: inp,
    outputs: tf.layers.dense({ units: 1 }).apply(inp) as tf.SymbolicTensor,
  });
  throws(() => reluTaylor.scorers!.taylor.start(makeCtx(plain), {}), /masked_relu transform/);
  model.dispose();
  plain.dispose();
});
