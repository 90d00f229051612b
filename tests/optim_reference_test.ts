/**
 * The optimizers and the cosine schedule against independent plain-JS
 * reimplementations of PyTorch's algorithms (torch.optim.SGD, torch.optim.Adam
 * (tests/optim_reference.ts) and torch.optim.lr_scheduler.CosineAnnealingLR,
 * as their documentation states them).
 */
import { type Batch, type Dataset, lrAt, type Schedule, tf, train } from "@shears/core";
import { allClose } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { notCancelled, quietEmit, testContext } from "./context.ts";
import { compareWithReference, referenceCases, runAgainstReference } from "./optim_reference.ts";

await useTestBackend();

for (const c of referenceCases) {
  Deno.test(`${c.name} = PyTorch's over 5 steps (changing lr, a 10x-lr group without decay)`, async () => {
    const { got, want } = await runAgainstReference(c.cfg, c.reference);
    compareWithReference(got, want, c.name);
  });
}

/**
 * CosineAnnealingLR as PyTorch computes it, recursively from the previous
 * epoch's lr (its chainable form), with T_max = epochs.
 */
function torchCosine(base: number, etaMin: number, tMax: number, epochs: number): number[] {
  const lrs = [base];
  for (let e = 1; e < epochs; e++) {
    const prev = lrs[e - 1];
    lrs.push(
      (e - 1 - tMax) % (2 * tMax) === 0
        ? prev + ((base - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2
        : ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) *
            (prev - etaMin) + etaMin,
    );
  }
  return lrs;
}

Deno.test("cosine schedule = PyTorch's CosineAnnealingLR (T_max = epochs) at every epoch", () => {
  const cosine: Schedule = { kind: "cosine" };
  // chosen epochs by hand: lr 0.05 over 10 epochs
  allClose(
    [0, 3, 5, 9].map((e) => lrAt(cosine, 0.05, e, 10)),
    [0.05, 0.0396946313, 0.025, 0.0012235870926],
    { rtol: 1e-9, atol: 0 },
    "hand values",
  );
  for (const [base, min, epochs] of [[0.05, 0, 10], [0.1, 1e-3, 7], [0.2, 0.01, 1]]) {
    const got = Array.from(
      { length: epochs },
      (_, e) => lrAt({ kind: "cosine", minLr: min }, base, e, epochs),
    );
    allClose(got, torchCosine(base, min, epochs, epochs), { rtol: 1e-9, atol: 1e-15 }, `${base}`);
  }
});

/** One batch of 8 examples per epoch; the values do not matter (gamma 0). */
const oneBatch: Dataset = {
  name: "one batch",
  inputShape: [2],
  numClasses: 2,
  size: () => 8,
  *batches(): Iterable<Batch> {
    yield { x: tf.ones([8, 2]), y: tf.zeros([8], "int32") as tf.Tensor1D };
  },
};

Deno.test("train() steps each epoch with the cosine lr of its place in the whole run", async () => {
  const input = tf.input({ shape: [2] });
  const out = tf.layers.dense({ units: 2, name: "fc" }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const ctx = testContext({ model, data: oneBatch });
  const bias = () => model.getLayer("fc").getWeights()[1].data();
  const b0 = (await bias())[0];
  // loss = -sum(bias): each plain SGD step moves the bias up by exactly that step's lr
  const reg = {
    description: "-sum(bias)",
    loss: (m: tf.LayersModel) => m.getLayer("fc").getWeights()[1].sum().neg() as tf.Scalar,
  };
  const stats = await train(
    ctx,
    {
      epochs: 3,
      epochOffset: 2,
      totalEpochs: 8,
      batchSize: 8,
      gamma: 0,
      augment: false,
      optimizer: { kind: "sgd", lr: 0.4 },
      schedule: { kind: "cosine" },
      regularizers: [{ name: "up", reg, weight: 1 }],
    },
    quietEmit,
    notCancelled,
  );
  const want = torchCosine(0.4, 0, 8, 8).slice(2, 5);
  allClose(stats.map((s) => s.lr), want, { rtol: 1e-9, atol: 0 }, "reported lr");
  allClose([(await bias())[0] - b0], [want.reduce((a, b) => a + b)], { rtol: 1e-5 }, "bias moved");
  model.dispose();
});
