/**
 * core's control: `train` runs start, one training stage per epoch (each
 * told its position and given the session and callback) and finish, in that
 * order, from the epoch a resumed run gives; churnAtBudget sums the recorded prunes up at the final count.
 */
import { lastValueFrom, toArray } from "rxjs";
import {
  type CallbackSession,
  churnAtBudget,
  control,
  type FitSpec,
  pipeline,
  type Plugin,
  type RunContext,
  type Scores,
  type ScoreSession,
  stage,
} from "@shears/core";
import { testContext } from "./context.ts";
import { deepEqual, equal, ok, throws } from "./assert.ts";

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
  const ctl = control({
    callback: { name: "fake/c" },
    scorer: { name: "fake/s" },
    pruner: { name: "fake/p" },
    budget: { keepRatio: 0.5 },
    epochs: 3,
  });
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
  equal(stages.at(-1), ctl.finish);
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
  for (const from of [3, -1, 1.5]) throws(() => ctl.train(fit, cfg, from), RangeError);
});
