/**
 * The optimizers and the cosine schedule against independent plain-JS
 * reimplementations of PyTorch's algorithms (torch.optim.SGD, torch.optim.Adam
 * and torch.optim.lr_scheduler.CosineAnnealingLR, as their documentation
 * states them), over several steps from non-zero weights and state, with a
 * learning rate that changes between steps and a parameter group (10x lr, no
 * weight decay) beside an ordinary one. One step from empty state cannot tell
 * apart the momentum update, the Nesterov formula or Adam's bias correction;
 * five steps with changing gradients can.
 */
import {
  type Batch,
  type Dataset,
  lrAt,
  makeOptimizer,
  type NamedVariable,
  type OptimizerConfig,
  type ParamGroup,
  Rng,
  type Schedule,
  tf,
  train,
} from "@shears/core";
import { allClose, equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";
import { notCancelled, quietEmit, testContext } from "./context.ts";

await useTestBackend();

/** One parameter of the reference: float64 values, its lr multiplier and weight decay. */
interface RefParam {
  w: number[];
  mult: number;
  wd: number;
}

/** PyTorch SGD (dampening 0): g += wd·w; b = g at the first step, else μ·b + g; d = nesterov ? g + μ·b : b. */
function torchSgd(
  params: RefParam[],
  grads: number[][][],
  lrs: number[],
  momentum: number,
  nesterov: boolean,
): number[][] {
  const w = params.map((p) => [...p.w]);
  const buf: (number[] | undefined)[] = params.map(() => undefined);
  for (const [t, lr] of lrs.entries()) {
    params.forEach((p, i) => {
      const g = grads[t][i].map((v, j) => v + p.wd * w[i][j]);
      let d = g;
      if (momentum !== 0) {
        const b = buf[i] ? buf[i]!.map((v, j) => momentum * v + g[j]) : [...g];
        buf[i] = b;
        d = nesterov ? g.map((v, j) => v + momentum * b[j]) : b;
      }
      w[i] = w[i].map((v, j) => v - lr * p.mult * d[j]);
    });
  }
  return w;
}

/** PyTorch Adam (L2 decay in the gradient): bias-corrected moments, eps outside the square root. */
function torchAdam(
  params: RefParam[],
  grads: number[][][],
  lrs: number[],
  [b1, b2]: [number, number],
  eps: number,
): number[][] {
  const w = params.map((p) => [...p.w]);
  const m = params.map((p) => p.w.map(() => 0));
  const v = params.map((p) => p.w.map(() => 0));
  for (const [t0, lr] of lrs.entries()) {
    const t = t0 + 1;
    params.forEach((p, i) => {
      const g = grads[t0][i].map((x, j) => x + p.wd * w[i][j]);
      m[i] = m[i].map((x, j) => b1 * x + (1 - b1) * g[j]);
      v[i] = v[i].map((x, j) => b2 * x + (1 - b2) * g[j] ** 2);
      const stepSize = (lr * p.mult) / (1 - b1 ** t);
      const c2 = Math.sqrt(1 - b2 ** t);
      w[i] = w[i].map((x, j) => x - stepSize * m[i][j] / (Math.sqrt(v[i][j]) / c2 + eps));
    });
  }
  return w;
}

const LRS = [0.1, 0.1, 0.05, 0.02, 0.08];
const GROUPS: ParamGroup[] = [{
  match: (n) => n.endsWith("/gamma"),
  lrMult: 10,
  weightDecay: false,
}];

/**
 * Runs `cfg` for LRS.length steps on a kernel [2, 3] and a BN gamma [3] (in
 * GROUPS) from seeded non-zero weights with seeded gradients, and returns
 * what Shears computed beside the reference's answer for the same run.
 */
async function run(
  cfg: OptimizerConfig,
  reference: (params: RefParam[], grads: number[][][]) => number[][],
): Promise<{ got: Float32Array[]; want: number[][] }> {
  const rng = new Rng(2026);
  const draw = (n: number, scale: number) =>
    Array.from({ length: n }, () => Math.fround(scale * rng.normal()));
  const names = ["conv/kernel", "bn/gamma"];
  const shapes = [[2, 3], [3]];
  const init = [draw(6, 1), draw(3, 1).map((v) => v + 1)];
  // gradients of different scales per step and variable, some steps reversing sign
  const grads = LRS.map((_, t) => [draw(6, 0.5 * (t + 1)), draw(3, t % 2 ? -1 : 0.3)]);
  const vars: NamedVariable[] = names.map((name, i) => ({
    name,
    variable: tf.variable(tf.tensor(init[i], shapes[i])),
  }));
  const before = tf.memory().numTensors;
  const opt = makeOptimizer(cfg, GROUPS);
  for (const [t, lr] of LRS.entries()) {
    const g = Object.fromEntries(
      vars.map(({ variable }, i) => [variable.name, tf.tensor(grads[t][i], shapes[i])]),
    );
    opt.step(vars, g, lr);
    tf.dispose(Object.values(g));
  }
  opt.dispose();
  equal(tf.memory().numTensors, before, "optimizer state freed");
  const got = await Promise.all(vars.map((v) => v.variable.data() as Promise<Float32Array>));
  vars.forEach((v) => v.variable.dispose());
  const params = names.map((name, i) => ({
    w: init[i],
    mult: name === "bn/gamma" ? 10 : 1,
    wd: name === "bn/gamma" ? 0 : cfg.weightDecay ?? 0,
  }));
  return { got, want: reference(params, grads) };
}

function compare(got: Float32Array[], want: number[][], what: string): void {
  got.forEach((g, i) => allClose(g, want[i], { rtol: 1e-5, atol: 1e-6 }, `${what} var ${i}`));
}

Deno.test("SGD with momentum = PyTorch's over 5 steps (changing lr, a 10x-lr group without decay)", async () => {
  const cfg: OptimizerConfig = { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };
  const { got, want } = await run(cfg, (p, g) => torchSgd(p, g, LRS, 0.9, false));
  compare(got, want, "sgd momentum");
});

Deno.test("SGD Nesterov = PyTorch's over 5 steps", async () => {
  const cfg: OptimizerConfig = {
    kind: "sgd",
    lr: 0.1,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
  };
  const { got, want } = await run(cfg, (p, g) => torchSgd(p, g, LRS, 0.9, true));
  compare(got, want, "sgd nesterov");
});

Deno.test("plain SGD (no momentum) = w - lr·(g + wd·w) each step", async () => {
  const cfg: OptimizerConfig = { kind: "sgd", lr: 0.1, weightDecay: 1e-3 };
  const { got, want } = await run(cfg, (p, g) => torchSgd(p, g, LRS, 0, false));
  compare(got, want, "sgd");
});

Deno.test("Adam = PyTorch's over 5 steps (default and custom betas / eps, L2 decay)", async () => {
  const cfg: OptimizerConfig = { kind: "adam", lr: 0.01, weightDecay: 1e-2 };
  const a = await run(cfg, (p, g) => torchAdam(p, g, LRS, [0.9, 0.999], 1e-8));
  compare(a.got, a.want, "adam");
  const custom: OptimizerConfig = { ...cfg, betas: [0.5, 0.9], eps: 1e-3 };
  const b = await run(custom, (p, g) => torchAdam(p, g, LRS, [0.5, 0.9], 1e-3));
  compare(b.got, b.want, "adam custom");
});

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
