import { channelCount, iterationsFor, prunableGroups, Rng, tf } from "@shears/core";
import { globalLowest, planRemovals } from "@shears/filter_taylor";
import { deepEqual, equal, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { randomizeWeights, resnetLike, vggLike } from "./channel_models.ts";
import { contextFor, fixedBatches, randomImages } from "./filter_taylor_fixtures.ts";

await useTestBackend();

const rng = new Rng(11);
const randomRanks = (sizes: Record<string, number>) =>
  new Map(
    Object.entries(sizes).map(([id, n]) => [id, Array.from({ length: n }, () => rng.next())]),
  );

Deno.test("planRemovals with round_to 1 is the N globally lowest (brute force)", () => {
  for (let trial = 0; trial < 20; trial++) {
    const ranks = randomRanks({ a: 5, b: 9, c: 3, d: 12 });
    const n = rng.int(20);
    const all = [...ranks].flatMap(([id, r]) => r.map((v, i) => ({ id, i, v })));
    // brute force: sort all; skip a group's last (highest) filter so no group is emptied
    const want = new Map<string, number[]>();
    const taken = new Map<string, number>();
    for (const f of all.sort((x, y) => x.v - y.v)) {
      if ([...want.values()].reduce((s, l) => s + l.length, 0) >= n) break;
      if ((taken.get(f.id) ?? 0) + 1 >= ranks.get(f.id)!.length) continue;
      taken.set(f.id, (taken.get(f.id) ?? 0) + 1);
      want.set(f.id, [...(want.get(f.id) ?? []), f.i]);
    }
    const got = planRemovals(ranks, n);
    deepEqual(
      Object.fromEntries([...got].map(([id, l]) => [id, l])),
      Object.fromEntries([...want].map(([id, l]) => [id, l.sort((a, b) => a - b)])),
    );
  }
});

Deno.test("planRemovals never empties a layer, even asked for everything", () => {
  const ranks = randomRanks({ a: 1, b: 4, c: 7 });
  const plan = planRemovals(ranks, 1000);
  equal(plan.has("a"), false);
  equal(plan.get("b")!.length, 3);
  equal(plan.get("c")!.length, 6);
});

Deno.test("planRemovals with round_to keeps every pruned layer a multiple of R (>= R)", () => {
  for (const R of [2, 4, 8]) {
    for (let trial = 0; trial < 10; trial++) {
      const sizes = { a: 3, b: 10, c: 16, d: 21, e: 8 };
      const ranks = randomRanks(sizes);
      const n = 1 + rng.int(40);
      const plan = planRemovals(ranks, n, R);
      const removed = [...plan.values()].reduce((s, l) => s + l.length, 0);
      const capacity = Object.values(sizes).reduce((s, v) => s + (v < R ? 0 : v - R), 0);
      ok(
        removed >= Math.min(n, capacity) && removed < n + R,
        `R=${R}: removed ${removed} for ${n}`,
      );
      for (const [id, l] of plan) {
        const left = sizes[id as keyof typeof sizes] - l.length;
        ok(left % R === 0 && left >= R, `R=${R}: ${id} keeps ${left}`);
        // a group gives up its lowest-ranked filters
        const r = ranks.get(id)!;
        const maxOut = Math.max(...l.map((i) => r[i]));
        r.forEach((v, i) =>
          ok(l.includes(i) || v >= maxOut, `${id}: kept ${i} below a removed one`)
        );
      }
      if (R > 3) equal(plan.has("a"), false, "a group smaller than R is never pruned");
    }
  }
  throws(() => planRemovals(randomRanks({ a: 3 }), 1, 0), /round_to must be an integer >= 1/);
});

Deno.test("global_lowest removes for real, replaces ctx.model, respects round_to, never empties", async () => {
  const model = vggLike();
  randomizeWeights(model, 5);
  const data = fixedBatches([{ x: randomImages(rng, 2, 8, 8, 3), y: [0, 1] }], 3);
  const ctx = contextFor(model, data);
  const total = channelCount(model, "conv");
  equal(total, 4 + 5 + 6 + 7);
  const ranks = (m: tf.LayersModel) => ({
    target: "channels" as const,
    values: new Map(
      prunableGroups(m, "conv").map((
        g,
      ) => [g.id, tf.tensor1d(Array.from({ length: g.size }, () => rng.next()))]),
    ),
  });
  let s = ranks(model);
  const res = await globalLowest.prune(ctx, s, { remove: 6 }, { round_to: 2 });
  s.values.forEach((t) => t.dispose());
  equal(res.total, 22);
  ok(res.kept <= 16 && res.kept >= 15);
  ok(ctx.model !== model, "ctx.model replaced");
  const filters = (m: tf.LayersModel) =>
    ["c1_conv", "c2_conv", "c3_conv", "c4_conv"].map((n) =>
      (m.getLayer(n).getConfig() as { filters: number }).filters
    );
  const after = filters(ctx.model!);
  deepEqual(after, res.perLayer.map((r) => r.after));
  res.perLayer.forEach((r) =>
    ok(r.after === r.before || r.after % 2 === 0, `${r.name}: ${r.after}`)
  );
  // ask for everything: each layer keeps one filter and the model still runs
  s = ranks(ctx.model!);
  const res2 = await globalLowest.prune(ctx, s, { remove: 1000 }, {});
  s.values.forEach((t) => t.dispose());
  equal(res2.kept, 4);
  deepEqual(filters(ctx.model!), [1, 1, 1, 1]);
  const y = tf.tidy(() => (ctx.model!.predict(tf.zeros([1, 8, 8, 3])) as tf.Tensor).shape);
  deepEqual(y, [1, 3]);
  ctx.model!.dispose();
});

Deno.test("global_lowest on residual groups removes coupled channels together", async () => {
  const model = resnetLike();
  const ctx = contextFor(model, fixedBatches([{ x: randomImages(rng, 1, 8, 8, 3), y: [0] }], 3));
  const groups = prunableGroups(model, "conv");
  const values = new Map(
    groups.map((
      g,
    ) => [g.id, tf.tensor1d(g.id === "stem_conv" ? [0, 5, 5, 5] : Array(g.size).fill(9))]),
  );
  const res = await globalLowest.prune(ctx, { target: "channels", values }, { remove: 1 }, {});
  values.forEach((t) => t.dispose());
  equal(res.kept, res.total - 1);
  for (const layer of ["stem_conv", "a2_conv"]) {
    equal((ctx.model!.getLayer(layer).getConfig() as { filters: number }).filters, 3, layer);
  }
  ctx.model!.dispose();
});

Deno.test("the seed's iterations: floor(floor(total / N) * 2/3)", () => {
  equal(iterationsFor(4224, 512, 2 / 3), 5);
  equal(iterationsFor(344, 16, 2 / 3), 14);
  equal(iterationsFor(100, 512, 2 / 3), 0);
  throws(() => iterationsFor(10, 0, 2 / 3), /units per iteration must be >= 1/);
});
