/**
 * core's control: `train` runs start, one training stage per epoch (each
 * told its position and given the session and callback) and finish, in that
 * order, from the epoch a resumed run gives (none when its checkpoint finished them), and
 * checkpoints again the masks a prune at finish set; resumeAt gives a training's epochs left;
 * churnAtBudget sums the recorded prunes up at the final count.
 */
import { lastValueFrom, toArray } from "rxjs";
import {
  type CallbackSession,
  churnAtBudget,
  control,
  type FitSpec,
  pipeline,
  type Plugin,
  type PruneDriver,
  readCheckpoint,
  resumeAt,
  type RunContext,
  type Scores,
  type ScoreSession,
  stage,
  tf,
} from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

/** A control of the fake plugin's parts (each test's plugin is named "fake"), over 3 epochs. */
const FAKE = {
  callback: { name: "fake/c" },
  scorer: { name: "fake/s" },
  pruner: { name: "fake/p" },
  budget: { keepRatio: 0.5 },
  epochs: 3,
};

Deno.test("churnAtBudget: only prunes at the final count; mean share revived; 0 when none", () => {
  const rows = [
    { kept: 10, revived: 5 }, // before the budget: not counted
    { kept: 4, revived: 1 },
    { kept: 4, revived: 0 },
    { kept: 4, revived: 2 },
  ];
  deepEqual(churnAtBudget(rows, 4), { updates: 4, atBudget: 3, churn: (1 / 4 + 0 + 2 / 4) / 3 });
  deepEqual(churnAtBudget(rows, 3), { updates: 4, atBudget: 0, churn: 0 });
  deepEqual(churnAtBudget([], 4), { updates: 0, atBudget: 0, churn: 0 });
});

Deno.test("control.train: start, one fit per epoch (its position, the hooks), finish", async () => {
  const events: string[] = [];
  const session: ScoreSession = {
    taps: [],
    scores: () => ({ values: new Map() }) as unknown as Scores,
    dispose: () => void 0,
  };
  const callback: CallbackSession = {
    finish: () => void events.push("callback finish"),
    dispose: () => void events.push("callback dispose"),
  };
  const plugin = {
    name: "fake",
    scorers: {
      s: {
        description: "",
        target: "activations",
        batches: 0,
        start: () => (events.push("scorer start"), session),
      },
    },
    pruners: { p: { description: "", target: "activations", prune: () => Promise.reject() } },
    callbacks: {
      c: { description: "", start: () => (events.push("callback start"), callback) },
    },
  } as unknown as Plugin;
  const ctx = testContext({ plugins: [plugin] });
  const ctl = control(FAKE);
  const specs: FitSpec[] = [];
  const fit = (spec: (ctx: RunContext) => FitSpec) =>
    stage("fit", (c) => {
      const s = spec(c);
      specs.push(s);
      events.push(`fit ${s.epochOffset}`);
    });
  const cfg = { batchSize: 8, optimizer: { kind: "sgd", lr: 0.1 }, alpha: 0.5 } as const;
  const stages = ctl.train(fit, cfg);
  equal(stages[0], ctl.start);
  equal(stages.at(-2), ctl.finish);
  await lastValueFrom(pipeline(...stages)(ctx).pipe(toArray()));
  deepEqual(events, [
    "scorer start",
    "callback start",
    "fit 0",
    "fit 1",
    "fit 2",
    "callback finish",
    "callback dispose",
  ]);
  for (const [i, s] of specs.entries()) {
    deepEqual(
      { epochs: s.epochs, epochOffset: s.epochOffset, totalEpochs: s.totalEpochs },
      { epochs: 1, epochOffset: i, totalEpochs: 3 },
    );
    equal(s.batchSize, 8);
    equal(s.alpha, 0.5);
    ok(s.sessions![0] === session && s.callbacks![0] === callback, "the control's hooks");
  }
  equal(ctx.state.size, 0, "finish frees the session");
  equal(specs[0].phase, "pruning (fake/c)", "its checkpoints name the training");

  // resumed after 1 of the 3 epochs: epochs 2 and 3 only, on the whole run's schedule
  events.length = specs.length = 0;
  await lastValueFrom(pipeline(...ctl.train(fit, cfg, 1))(ctx).pipe(toArray()));
  deepEqual(events.filter((e) => e.startsWith("fit")), ["fit 1", "fit 2"]);
  deepEqual(specs.map((s) => [s.epochs, s.totalEpochs]), [[1, 3], [1, 3]]);
  deepEqual(ctl.train(fit, cfg, 3), [], "its checkpoint finished the training: nothing to run");
  for (const from of [4, -1, 1.5]) throws(() => ctl.train(fit, cfg, from), RangeError);
});

Deno.test("control.train: a prune at finish is checkpointed as the training's last epoch", async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
  const runDir = await Deno.makeTempDir({ prefix: "shears_control_" });
  try {
    const session: ScoreSession = {
      taps: [],
      scores: () => ({ values: new Map() }) as unknown as Scores,
      dispose: () => void 0,
    };
    let driver: PruneDriver | undefined;
    const plugin = {
      name: "fake",
      scorers: {
        s: { description: "", target: "activations", batches: 0, start: () => session },
      },
      pruners: {
        p: {
          description: "",
          target: "activations",
          prune: () => {
            const zeros = model.getWeights().map((w) => tf.zerosLike(w));
            model.setWeights(zeros);
            tf.dispose(zeros);
            return Promise.resolve({ kept: 0, total: 6, perLayer: [] });
          },
        },
      },
      callbacks: {
        c: {
          description: "",
          start: (_: RunContext, _o: unknown, d: PruneDriver) => {
            driver = d;
            return { finish: () => driver!.prune({ keepRatio: 0 }).then(() => {}) };
          },
        },
      },
    } as unknown as Plugin;
    const ctx = testContext({ plugins: [plugin], model, runDir });
    const ctl = control(FAKE);
    const fit = () => stage("fit", () => {});
    const cfg = { batchSize: 8, optimizer: { kind: "sgd", lr: 0.1 } } as const;
    await lastValueFrom(pipeline(...ctl.train(fit, cfg, 1))(ctx).pipe(toArray()));
    deepEqual((await readCheckpoint(runDir)).state, { stage: ctl.phase, epoch: 3 });
    const weights = await Deno.readFile(`${runDir}/checkpoint/weights.bin`);
    ok(weights.length === 32 && weights.every((b) => b === 0), "the masks the finish set");
    equal(ctx.report.mask_updates, undefined, "a prune outside a batch is not an update row");
  } finally {
    model.dispose();
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("resumeAt: the epochs after those done, at their place in the whole training", () => {
  const spec: FitSpec = { epochs: 5, batchSize: 8, optimizer: { kind: "sgd", lr: 0.1 } };
  const rest = resumeAt(spec, 2);
  deepEqual([rest.epochs, rest.epochOffset, rest.totalEpochs], [3, 2, 5]);
  equal(rest.batchSize, 8);
  deepEqual([resumeAt(spec, 0).epochs, resumeAt(spec, 5).epochs], [5, 0]);
  const inner = resumeAt({ ...spec, epochOffset: 10, totalEpochs: 20 }, 1);
  deepEqual([inner.epochs, inner.epochOffset, inner.totalEpochs], [4, 11, 20]);
  for (const done of [6, -1, 0.5]) throws(() => resumeAt(spec, done), RangeError);
});
