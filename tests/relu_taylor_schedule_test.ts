/**
 * The progressive schedule (keep ratio, update cadence), the mask controller,
 * and the global top-k pruner (exactly k kept, exact counts, deterministic
 * ties, masks rebuilt from scratch).
 */
import {
  type BatchInfo,
  type Budget,
  type MaskedReLU,
  reluTable,
  type Scores,
  tf,
} from "@shears/core";
import reluTaylor, {
  applyGlobalTopk,
  keepRatioAt,
  MaskController,
  maskController,
  targetEpoch,
  topkMask,
  updateIntervalAt,
} from "@shears/relu_taylor";
import { allClose, deepEqual, equal, ok, rejects, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { makeCtx, SHAPES, tinyModel } from "./relu_taylor_fixtures.ts";

await useTestBackend();

const REF = { epochs: 150, warmup: 5, target: 0.1 };

Deno.test("schedule: 1 through warmup, the target from the target epoch, the formula between", () => {
  equal(targetEpoch(REF), 92); // floor(5 + 145 * 0.6)
  for (let e = 1; e <= 5; e++) equal(keepRatioAt(e, REF), 1, `epoch ${e}`);
  for (const e of [92, 93, 120, 150]) equal(keepRatioAt(e, REF), 0.1, `epoch ${e}`);
  let prev = 1;
  for (let e = 6; e < 92; e++) {
    const p = (e - 5) / 87;
    const want = 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * p ** 1.5));
    allClose([keepRatioAt(e, REF)], [want], { rtol: 1e-12 }, `epoch ${e}`);
    ok(want < prev && want > 0.1, `decreasing at ${e}`);
    prev = want;
  }
  // half-way in epochs is past half-way in keep (accelerated by p^1.5)
  const s = { epochs: 25, warmup: 5, target: 0.2 }; // target epoch floor(5 + 12) = 17
  equal(targetEpoch(s), 17);
  allClose(
    [keepRatioAt(11, s)],
    [0.2 + 0.8 * 0.5 * (1 + Math.cos(Math.PI * 0.5 ** 1.5))],
    {},
    "mid",
  );
});

Deno.test("cadence: no updates in warmup, every 100 batches, every 200 from the target epoch", () => {
  equal(updateIntervalAt(4, REF), Infinity);
  equal(updateIntervalAt(5, REF), 100);
  equal(updateIntervalAt(91, REF), 100);
  equal(updateIntervalAt(92, REF), 200);
  equal(updateIntervalAt(150, { ...REF, interval: 50 }), 100);
});

function infoFor(epoch0: number, batch: number, perEpoch: number): BatchInfo {
  return {
    epoch: epoch0,
    batch,
    globalStep: epoch0 * perEpoch + batch + 1,
    batchesPerEpoch: perEpoch,
    loss: 0,
  };
}

Deno.test("controller: counts global batches, updates on the cadence with the scheduled budget", async () => {
  // 10 epochs of 4 batches, warmup 2, target epoch floor(2 + 8 * 0.6) = 6, interval 3
  const calls: { batch: number; epoch: number; budget: Budget }[] = [];
  let batch = 0;
  const c = new MaskController(
    { epochs: 10, warmup: 2, target: 0.25, interval: 3, targetRelus: 5 },
    (budget, epoch) => {
      calls.push({ batch, epoch, budget });
      return { kept: 0, total: 0, perLayer: [] };
    },
  );
  const updated: number[] = [];
  for (let e = 0; e < 10; e++) {
    for (let b = 0; b < 4; b++) {
      batch++;
      if (await c.onBatchEnd(infoFor(e, b, 4))) updated.push(batch);
    }
  }
  // epoch 1 (batches 1-4): none; epochs 2-5: every 3rd batch; from epoch 6 (batch 21): every 6th
  deepEqual(updated, [6, 9, 12, 15, 18, 24, 30, 36]);
  deepEqual(calls.map((x) => x.batch), updated);
  deepEqual(calls.map((x) => x.epoch), [2, 3, 3, 4, 5, 6, 8, 9]);
  deepEqual(calls[0].budget, { keepRatio: 1 });
  allClose([calls[1].budget.keepRatio!], [keepRatioAt(3, { epochs: 10, warmup: 2, target: 0.25 })]);
  for (const x of calls.slice(5)) deepEqual(x.budget, { keep: 5 }, "exact count at target");
  equal(c.updates, 8);
  equal(c.batches, 40);
  throws(
    () =>
      new MaskController({ epochs: 10, target: 1.5 }, () => ({ kept: 0, total: 0, perLayer: [] })),
    /target keep ratio/,
  );
});

Deno.test("controller resumed at epoch k: the full run's updates after k, the budget before", async () => {
  // the run of the test above resumed after 5 and after 6 of its 10 epochs (4 batches each)
  const runs: [number, number[], number][] = [[5, [24, 30, 36], 18], [6, [30, 36], 24]];
  for (const [done, want, before] of runs) {
    const opts = { epochs: 10, warmup: 2, target: 0.25, interval: 3, targetRelus: 5 };
    const calls: { epoch: number; batch: number }[] = [];
    const c = new MaskController(opts, (_, epoch, batch) => {
      calls.push({ epoch, batch });
      return { kept: 0, total: 0, perLayer: [] };
    });
    await c.onBatchEnd(infoFor(done, 0, 4));
    // the masks of the checkpoint: the schedule's latest update before the resumed start
    deepEqual(c.lastBudget, c.budgetAt(Math.ceil(before / 4)), `resumed after ${done}`);
    equal(c.batches, done * 4 + 1);
    for (let e = done; e < 10; e++) {
      for (let b = e === done ? 1 : 0; b < 4; b++) await c.onBatchEnd(infoFor(e, b, 4));
    }
    deepEqual(calls.map((x) => x.batch), want);
    deepEqual(calls.map((x) => x.epoch), want.map((b) => Math.ceil(b / 4)));
  }
});

Deno.test("progressive resumed with no update left: finish keeps the checkpoint's masks", async () => {
  // 3 epochs of 2 batches, warmup 1, target epoch 2, interval 2: updates at batches 2 and 4 (epoch
  // 2, at the budget); resumed after 2 epochs, batches 5 and 6 bring none
  const model = tinyModel();
  const ctx = makeCtx(model);
  const prunes: unknown[] = [];
  const driver = {
    session: reluTaylor.scorers!.random.start(ctx, {}),
    budget: { keep: 5 },
    epochs: 3,
    prune: (budget: Budget, at?: unknown) => {
      prunes.push({ budget, at });
      return Promise.resolve({ kept: 5, total: 12, perLayer: [] });
    },
    log: () => {},
  };
  const cb = reluTaylor.callbacks!.progressive.start(ctx, { warmup: 1, interval: 2 }, driver);
  for (const b of [0, 1]) await cb.onBatchEnd!(infoFor(2, b, 2), undefined as never);
  await cb.finish!();
  deepEqual(prunes, [], "no update, and no final prune: the budget was the last update's");
  driver.session.dispose();
  model.dispose();
});

Deno.test("topkMask: exactly k, ties to the earlier index, NaN lowest", () => {
  deepEqual([...topkMask(new Float32Array([1, 3, 3, 2]), 2)], [0, 1, 1, 0]);
  deepEqual([...topkMask(new Float32Array([5, 5, 5, 5]), 3)], [1, 1, 1, 0]);
  deepEqual([...topkMask(new Float32Array([2, 1, 2, 1, 2]), 4)], [1, 1, 1, 0, 1]);
  deepEqual([...topkMask(new Float32Array([NaN, 0, -1]), 2)], [0, 1, 1]);
  deepEqual([...topkMask(new Float32Array([1, 2]), 0)], [0, 0]);
  throws(() => topkMask(new Float32Array(3), 4), /top-k count/);
});

function scoresOf(values: number[][]): Scores {
  return {
    target: "activations",
    values: new Map(values.map((v, l) => [`r${l}`, tf.tensor(v, SHAPES[l])])),
  };
}

Deno.test("global_topk: one global budget across layers, exact counts, rebuilt from scratch", async () => {
  const model = tinyModel();
  const ctx = makeCtx(model);
  const pruner = reluTaylor.pruners!.global_topk;
  // 12 elements: r0 low, r1 high, r2 middle
  const s1 = scoresOf([[1, 2, 3, 4], [10, 11, 12, 13, 14, 15], [5, 6]]);
  const r = await pruner.prune(ctx, s1, { keepRatio: 0.5 }, {});
  equal(r.kept, 6);
  equal(r.total, 12);
  deepEqual(r.perLayer, [
    { name: "r0", before: 4, after: 0 },
    { name: "r1", before: 6, after: 6 },
    { name: "r2", before: 2, after: 0 },
  ]);
  equal(r.revived, 0, "from all-ones masks nothing comes back");
  const { revived: _, ...counts } = r;
  deepEqual(await reluTable(model), counts);
  // exact count; ties resolved to the earlier layer / element
  const s2 = scoresOf([[7, 7, 0, 0], [0, 0, 0, 0, 0, 7], [7, 0]]);
  const r2 = await applyGlobalTopk(model, s2, { keep: 3 });
  deepEqual(r2.perLayer.map((x) => x.after), [2, 1, 0]);
  equal(r2.revived, 2, "r0's first two were pruned by the masks before");
  allClose((model.getLayer("r0") as MaskedReLU).mask.read().dataSync(), [1, 1, 0, 0]);
  allClose((model.getLayer("r1") as MaskedReLU).mask.read().dataSync(), [0, 0, 0, 0, 0, 1]);
  // pruned ReLUs come back when their importance does
  const r3 = await applyGlobalTopk(model, s1, { keepRatio: 1 });
  equal(r3.kept, 12);
  deepEqual(r3.perLayer.map((x) => x.after), [4, 6, 2]);
  equal(r3.revived, 9);
  // layer_norm mean: each layer's scores over their mean (r0 0.4..1.6, r1 0.8..1.2, r2 0.91, 1.09)
  const r4 = await pruner.prune(ctx, s1, { keepRatio: 0.5 }, { layer_norm: "mean" });
  deepEqual(r4.perLayer.map((x) => x.after), [2, 3, 1]);
  // monotone: the top-k among the 6 kept now (r0 3,4; r1 13,14,15; r2 6 under layer_norm);
  // plain scores would take r1 whole, reviving its pruned 10 and 11
  const r5 = await pruner.prune(ctx, s1, { keepRatio: 0.25 }, { monotone: true });
  deepEqual(r5.perLayer.map((x) => x.after), [0, 3, 0]);
  equal(r5.revived, 0);
  allClose((model.getLayer("r1") as MaskedReLU).mask.read().dataSync(), [0, 0, 0, 1, 1, 1]);
  const r6 = await pruner.prune(ctx, s1, { keepRatio: 0.5 }, { monotone: true });
  equal(r6.revived, 3, "k above the kept count: the best pruned ones return");
  deepEqual(r6.perLayer.map((x) => x.after), [0, 6, 0]);
  await rejects(
    async () => await pruner.prune(ctx, s1, { keepRatio: 0.5 }, { layer_norm: "l2" }),
    /layer_norm must be one of none, mean, got l2/,
  );
  tf.dispose([...s1.values.values(), ...s2.values.values()]);
  await rejects(
    () => applyGlobalTopk(model, scoresOf([[1, 2, 3, 4]]), { keep: 1 }),
    /no scores for MaskedReLU 'r1'/,
  );
  model.dispose();
});

Deno.test("maskController: session scores -> global_topk at the scheduled budget, no leaks", async () => {
  const model = tinyModel();
  const ctx = makeCtx(model);
  const session = reluTaylor.scorers!.random.start(ctx, {});
  const c = maskController(ctx, session, reluTaylor.pruners!.global_topk, {
    epochs: 4,
    warmup: 1,
    interval: 2,
    targetRelus: 5,
  });
  // target epoch floor(1 + 3 * 0.6) = 2: from epoch 2 on, exactly 5 of 12 kept, every 4 batches
  const before = tf.memory().numTensors;
  const kept: number[] = [];
  for (let e = 0; e < 4; e++) {
    for (let b = 0; b < 4; b++) {
      if (await c.onBatchEnd(infoFor(e, b, 4))) kept.push((await reluTable(model)).kept);
    }
  }
  deepEqual(kept, [12, 12, 5, 5, 5]);
  deepEqual(c.last!.budget, { keep: 5 });
  equal(tf.memory().numTensors, before);
  throws(
    () =>
      maskController(ctx, session, reluTaylor.pruners!.global_topk, { epochs: 4, targetRelus: 13 }),
    /target_relus must be in \[1, 12\], got 13/,
  );
  session.dispose();
  model.dispose();
});
