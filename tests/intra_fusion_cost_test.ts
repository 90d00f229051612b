/**
 * Intra-Fusion on transport problems small enough to solve by hand, with
 * neuron features of different norms (so normalising them matters):
 *
 * - n = 3 neurons, k = 2 kept: the features, the cost matrix (L1 distance
 *   between L2-normalised features), the map T and its cost against hand
 *   values, and the fused weights (out-rows, bias, next layer's in-columns)
 *   against the hand matrix product W' = T W, summing (the reference) and
 *   averaging;
 * - n = 4, k = 2: a problem whose optimal plan flips when the features are
 *   not normalised, so the cost decides which neurons the pruned model merges.
 *
 * Fusion tests elsewhere use identity maps and duplicated neurons, on which
 * any cost gives the same answer.
 */
import { buildChannelGraph, type Scores, tf } from "@shears/core";
import intraFusion, { fusionCost, neuronFeatures, transportMap } from "@shears/intra_fusion";
import { allClose, deepEqual } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { testContext } from "./context.ts";

await useTestBackend();

type ST = tf.SymbolicTensor;

/** input -> dense `hidden` (k1, b1) -> ReLU -> dense `out` (k2, b2), with these weights. */
function mlp(k1: number[][], b1: number[], k2: number[][], b2: number[]): tf.LayersModel {
  const input = tf.input({ shape: [k1.length] });
  const h = tf.layers.dense({ name: "hidden", units: b1.length }).apply(input) as ST;
  const r = tf.layers.reLU({ name: "relu" }).apply(h) as ST;
  const out = tf.layers.dense({ name: "out", units: b2.length }).apply(r) as ST;
  const model = tf.model({ inputs: input, outputs: out });
  const ws = [tf.tensor2d(k1), tf.tensor1d(b1), tf.tensor2d(k2), tf.tensor1d(b2)];
  model.setWeights(ws);
  tf.dispose(ws);
  return model;
}

/**
 * Neuron j's feature is [k1[:, j], k2[j, :]]: f0 = [3, 0, 4, 0] (norm 5),
 * f1 = [1, 2, 2, 0] (norm 3), f2 = [0, -1.2, 0, 1.6] (norm 2).
 */
const K1 = [[3, 1, 0], [0, 2, -1.2]];
const B1 = [0.1, -0.2, 0.3];
const K2 = [[4, 0], [2, 0], [0, 1.6]];
const B2 = [0.05, -0.05];

/** Channel scores of the group `hidden`. */
const channelScores = (values: number[]): Scores => ({
  target: "channels",
  values: new Map([["hidden", tf.tensor1d(values)]]),
});

/** Runs the registry's `pruner` on `model` keeping 2 neurons; the weights of the pruned model. */
async function pruned(
  model: tf.LayersModel,
  pruner: string,
  importance: number[],
  options: Record<string, unknown> = {},
): Promise<number[][]> {
  const ctx = testContext({ model, plugins: [intraFusion] });
  const scores = channelScores(importance);
  await ctx.registry.pruner(pruner).prune(ctx, scores, { keep: 2 }, options);
  scores.values.forEach((t) => t.dispose());
  const ws = await Promise.all(ctx.model!.getWeights().map(async (w) => [...await w.data()]));
  ctx.model!.dispose();
  return ws;
}

Deno.test("n = 3, k = 2: features, cost matrix, map and its cost = hand values", async () => {
  const model = mlp(K1, B1, K2, B2);
  const features = await neuronFeatures(model, buildChannelGraph(model).group("hidden"));
  deepEqual([features.n, features.d], [3, 4]);
  allClose(features.data, [3, 0, 4, 0, 1, 2, 2, 0, 0, -1.2, 0, 1.6], {}, "features");
  // unit vectors u0 = [.6,0,.8,0], u1 = [1,2,2,0]/3, u2 = [0,-.6,0,.8]; rows: neurons, cols: kept 0, 2
  allClose(
    fusionCost(features, [0, 2]),
    [0, 2.8, 16 / 15, 46 / 15, 2.8, 0],
    { rtol: 1e-6 },
    "cost",
  );
  // uniform marginals 1/3 -> 1/2: kept neurons stay, neuron 1 splits; T = G^T, columns sum to 1
  const map = transportMap(features, [0, 2]);
  allClose(map.map, [1, 0.5, 0, 0, 0.5, 1], { atol: 1e-12 }, "T");
  allClose([map.cost], [(16 / 15 + 46 / 15) / 6], { rtol: 1e-6 }, "transport cost");
  model.dispose();
});

Deno.test("n = 3, k = 2: fused weights = the hand matrix product T·W (sum and average)", async () => {
  const model = mlp(K1, B1, K2, B2);
  // sum (reference): t0 = n0 + n1/2, t1 = n1/2 + n2 in out-rows, bias and in-columns
  const [k1, b1, k2, b2] = await pruned(model, "intra_fusion/fusion", [3, 1, 2]);
  allClose(k1, [3.5, 0.5, 1, -0.2], {}, "hidden kernel");
  allClose(b1, [0, 0.2], {}, "hidden bias");
  allClose(k2, [5, 0, 1, 1.6], {}, "out kernel");
  allClose(b2, B2, {}, "out bias untouched");
  // average: out-rows and bias by T's rows scaled to 1 ([2/3, 1/3, 0], [0, 1/3, 2/3]),
  // in-columns still summed
  const avg = await pruned(model, "intra_fusion/fusion", [3, 1, 2], { merge: "average" });
  allClose(avg[0], [7 / 3, 1 / 3, 2 / 3, -2 / 15], {}, "avg kernel");
  allClose(avg[1], [0, 0.4 / 3], {}, "avg bias");
  allClose(avg[2], [5, 0, 1, 1.6], {}, "avg out kernel");
  // default: neurons 0 and 2 as they were
  const drop = await pruned(model, "intra_fusion/default", [3, 1, 2]);
  allClose(drop[0], [3, 0, 0, -1.2], {}, "default kernel");
  allClose(drop[2], [4, 0, 0, 1.6], {}, "default out kernel");
  model.dispose();
});

Deno.test("n = 4, k = 2: normalised costs merge each neuron into the one of its direction", async () => {
  // features [k1, k2]: f0 = [1, 0], f1 = [8, 6] (norm 10), f2 = [0.1, 0.3], f3 = [0, 10];
  // kept 0 and 3. Normalised, f1 is nearer f0 and f2 nearer f3 (cost 1.17 against 2.83);
  // unnormalised, magnitudes win and the plan flips (13.2 against 22.8).
  const model = mlp([[1, 8, 0.1, 0]], [0, 0, 0, 0], [[0], [6], [0.3], [10]], [0]);
  const [k1, , k2] = await pruned(model, "intra_fusion/fusion", [4, 1, 2, 3]);
  allClose(k1, [1 + 8, 0.1 + 0], {}, "hidden kernel: {0, 1} and {2, 3} merged");
  allClose(k2, [0 + 6, 0.3 + 10], {}, "out kernel");
  model.dispose();
});
