import { tf } from "@shears/core";
import { globalThreshold, selectKeep } from "@shears/magnitude";
import { Rng } from "@shears/core";
import { useTestBackend } from "./backend_setup.ts";
import { deepEqual, equal, ok, rejects } from "./assert.ts";
import { magnitudeContext, TINY_CONVS, tinyResNet, weightValues } from "./magnitude_fixtures.ts";

await useTestBackend();

/** All conv weights of the model, concatenated, in layer order. */
function allValues(model: tf.LayersModel, names: string[]): Float32Array[] {
  return names.map((n) => weightValues(model, n));
}

/** Runs scorer + pruner through the registry, disposing the scores. */
async function prune(
  ctx: ReturnType<typeof magnitudeContext>,
  scorer: string,
  options: Record<string, unknown>,
) {
  const { include, ...pruning } = options; // the scorer's option; the rest are the pruner's
  const session = ctx.registry.scorer(scorer).start(ctx, include === undefined ? {} : { include });
  const scores = await session.scores();
  try {
    return {
      scores: [...scores.values.keys()],
      ...(await ctx.registry.pruner("magnitude/global").prune(ctx, scores, {}, pruning)),
    };
  } finally {
    scores.values.forEach((t) => t.dispose());
    session.dispose();
  }
}

Deno.test("threshold: tau = sorted[floor(p N)], +inf at p = 1; strict < and p_bern draws", () => {
  const s = Float32Array.from([0.5, 0.1, 0.4, 0.2, 0.3]);
  equal(globalThreshold(s, 0), Math.fround(0.1));
  equal(globalThreshold(s, 0.4), Math.fround(0.3));
  equal(globalThreshold(s, 0.99), Math.fround(0.5));
  equal(globalThreshold(s, 1), Infinity);
  deepEqual([...selectKeep(s, Math.fround(0.3), 1, new Rng(0))], [1, 0, 1, 0, 1]);
  deepEqual([...selectKeep(s, Infinity, 1, new Rng(0))], [0, 0, 0, 0, 0]);
  deepEqual([...selectKeep(s, Infinity, 0, new Rng(0))], [1, 1, 1, 1, 1]);
  // one draw per candidate, in order: the non-candidates consume no draws
  const r = new Rng(3);
  const draws = [r.next(), r.next()];
  const keep = selectKeep(s, Math.fround(0.3), 0.5, new Rng(3));
  deepEqual([keep[1], keep[3]], draws.map((u) => (u < 0.5 ? 0 : 1)));
});

Deno.test("global, p_bern 1: exactly the conv weights below tau are zero; BN, Dense, biases untouched", async () => {
  const model = tinyResNet();
  const ctx = magnitudeContext(model);
  const before = allValues(model, TINY_CONVS);
  const others = ["conv1/bias", "block_bn1/gamma", "fc/kernel"].map((n) => weightValues(model, n));
  const flat = Float32Array.from(before.flatMap((v) => [...v].map(Math.abs)));
  const tau = Float32Array.from(flat).sort()[Math.floor(0.3 * flat.length)];

  const res = await prune(ctx, "magnitude/abs", { p_prune: 0.3, p_bern: 1 });
  deepEqual(res.scores, TINY_CONVS, "stem, 3x3 and 1x1 shortcut convs are scored; Dense is not");
  const after = allValues(model, TINY_CONVS);
  let zeros = 0;
  after.forEach((v, l) =>
    v.forEach((x, i) => {
      const shouldBeZero = Math.abs(before[l][i]) < tau;
      // a pruned negative weight reads -0 (w·0); === treats ±0 alike
      ok(shouldBeZero ? x === 0 : x === before[l][i], `${TINY_CONVS[l]}[${i}]: ${x}`);
      if (shouldBeZero) zeros++;
    })
  );
  equal(zeros, Math.floor(0.3 * flat.length), "no ties: floor(p N) weights pruned");
  equal(res.total, flat.length);
  equal(res.kept, flat.length - zeros);
  deepEqual(res.perLayer.map((r) => r.name), TINY_CONVS);
  equal(res.perLayer.reduce((n, r) => n + r.before - r.after, 0), zeros);
  ["conv1/bias", "block_bn1/gamma", "fc/kernel"].forEach((n, i) =>
    deepEqual(weightValues(model, n), others[i], `${n} untouched`)
  );
  ctx.masks.dispose();
  model.dispose();
});

Deno.test("global, p_bern 0.5: pruned fraction within a binomial tolerance, only candidates pruned, seeded", async () => {
  const model = tinyResNet(5);
  const ctx = magnitudeContext(model, 11);
  const before = allValues(model, TINY_CONVS);
  const flat = Float32Array.from(before.flatMap((v) => [...v].map(Math.abs)));
  const p = 0.8;
  const tau = Float32Array.from(flat).sort()[Math.floor(p * flat.length)];
  const candidates = Math.floor(p * flat.length);
  const res = await prune(ctx, "magnitude/abs", { p_prune: p, p_bern: 0.5 });
  const pruned = res.total - res.kept;
  const sd = Math.sqrt(candidates * 0.25);
  ok(
    Math.abs(pruned - candidates / 2) <= 4 * sd,
    `pruned ${pruned}, expected ${candidates / 2} ± ${4 * sd}`,
  );
  ok(pruned > 0 && pruned < candidates, "some candidates pruned, some spared");
  const zeroed = allValues(model, TINY_CONVS);
  zeroed.forEach((v, l) => v.forEach((x, i) => ok(x !== 0 || Math.abs(before[l][i]) < tau)));
  // same seed, same masks; another seed, other masks
  const masksOf = async (seed: number) => {
    const m = tinyResNet(5);
    const c = magnitudeContext(m, seed);
    await prune(c, "magnitude/abs", { p_prune: p, p_bern: 0.5 });
    const out = allValues(m, TINY_CONVS).flatMap((v) => [...v].map((x) => (x === 0 ? 0 : 1)));
    c.masks.dispose();
    m.dispose();
    return out;
  };
  const mine = zeroed.flatMap((v) => [...v].map((x) => (x === 0 ? 0 : 1)));
  deepEqual(await masksOf(11), mine);
  ok((await masksOf(12)).some((v, i) => v !== mine[i]));
  ctx.masks.dispose();
  model.dispose();
});

Deno.test("global: p_prune 0 prunes nothing; p_prune 1 prunes every conv weight and the model still runs", async () => {
  const model = tinyResNet();
  const ctx = magnitudeContext(model);
  const before = allValues(model, TINY_CONVS);
  const r0 = await prune(ctx, "magnitude/abs", { p_prune: 0, p_bern: 1 });
  equal(r0.kept, r0.total);
  deepEqual(allValues(model, TINY_CONVS), before);
  ctx.masks.restore(model);

  const r1 = await prune(ctx, "magnitude/abs", { p_prune: 1, p_bern: 1 });
  equal(r1.kept, 0);
  allValues(model, TINY_CONVS).forEach((v) => ok(v.every((x) => x === 0)));
  const y = tf.tidy(() => (model.predict(tf.ones([2, 6, 6, 2])) as tf.Tensor).dataSync());
  ok(y.every(Number.isFinite), "outputs finite with every conv pruned");
  ctx.masks.restore(model);

  const rk = await prune(ctx, "magnitude/kernel_l1", { p_prune: 1, p_bern: 1 });
  equal(rk.kept, 0);
  ctx.masks.restore(model);
  model.dispose();
});

Deno.test("global: restore puts the original weights back bit for bit, no tensors leak", async () => {
  const model = tinyResNet();
  const ctx = magnitudeContext(model);
  const names = model.weights.map((w) => w.originalName);
  const before = names.map((n) => weightValues(model, n));
  const n0 = tf.memory().numTensors;
  for (const [scorer, p] of [["magnitude/abs", 0.6], ["magnitude/kernel_l1", 0.4]] as const) {
    await prune(ctx, scorer, { p_prune: p, p_bern: 0.7 });
    ok(allValues(model, TINY_CONVS).some((v) => v.some((x) => x === 0)));
    ctx.masks.restore(model);
    names.forEach((n, i) => {
      const a = new Uint32Array(weightValues(model, n).buffer),
        b = new Uint32Array(before[i].buffer);
      deepEqual(a, b, `${n} bit-exact after restore`);
    });
    equal(ctx.masks.size, 0);
  }
  equal(tf.memory().numTensors, n0, "no tensors left behind");
  model.dispose();
});

Deno.test("global, kernel granularity: whole kh×kw kernels pruned, exactly those with L1 below tau", async () => {
  const model = tinyResNet(3);
  const ctx = magnitudeContext(model);
  const before = allValues(model, TINY_CONVS);
  const shapes = TINY_CONVS.map((n) =>
    model.weights.find((w) => w.originalName === n)!.shape as number[]
  );
  // kernel L1 per (in, out), layer order, in-major then out (the [1,1,in,out] layout)
  const l1 = shapes.map(([kh, kw, cin, cout], l) => {
    const s = new Float32Array(cin * cout);
    for (let i = 0; i < kh * kw; i++) {
      for (let j = 0; j < cin * cout; j++) s[j] += Math.abs(before[l][i * cin * cout + j]);
    }
    return s;
  });
  const flat = Float32Array.from(l1.flatMap((v) => [...v]));
  const tau = Float32Array.from(flat).sort()[Math.floor(0.5 * flat.length)];
  const res = await prune(ctx, "magnitude/kernel_l1", { p_prune: 0.5, p_bern: 1 });
  let prunedKernels = 0;
  allValues(model, TINY_CONVS).forEach((v, l) => {
    const [kh, kw, cin, cout] = shapes[l];
    for (let j = 0; j < cin * cout; j++) {
      // tolerance: tf's sum order may differ from ours in the last bit
      const gone = l1[l][j] < tau * (1 - 1e-6);
      const kept = l1[l][j] > tau * (1 + 1e-6);
      const vals = Array.from({ length: kh * kw }, (_, i) => v[i * cin * cout + j]);
      const allZero = vals.every((x) => x === 0), noneZero = vals.every((x) => x !== 0);
      ok(allZero || noneZero, `${TINY_CONVS[l]} kernel ${j} pruned as a whole`);
      if (gone) ok(allZero, `${TINY_CONVS[l]} kernel ${j} below tau is pruned`);
      if (kept) ok(noneZero, `${TINY_CONVS[l]} kernel ${j} above tau is kept`);
      if (allZero) prunedKernels++;
    }
  });
  equal(prunedKernels, Math.floor(0.5 * flat.length), "N = number of kernels");
  equal(res.total - res.kept, res.perLayer.reduce((n, r) => n + r.before - r.after, 0));
  ctx.masks.restore(model);
  model.dispose();
});

Deno.test("global: include dense adds the Dense kernel; bad options are one clear error", async () => {
  const model = tinyResNet();
  const ctx = magnitudeContext(model);
  const res = await prune(ctx, "magnitude/abs", { p_prune: 0.5, include: "dense" });
  deepEqual(res.scores, [...TINY_CONVS, "fc/kernel"]);
  ctx.masks.restore(model);
  await rejects(
    () => prune(ctx, "magnitude/abs", { p_prune: 1.5 }),
    /magnitude\/global option p_prune must be in \[0, 1\], got 1.5$/,
  );
  await rejects(() => prune(ctx, "magnitude/abs", { p_prune: 0.5, p_bern: -1 }), /p_bern/);
  await rejects(
    () => prune(ctx, "magnitude/abs", { p_prune: 0.5, include: "bn" }),
    /include must be one of dense, got bn/,
  );
  model.dispose();
});
