import {
  checkRegularizer,
  isUserFacing,
  lrAt,
  makeOptimizer,
  multistepAt,
  PartChooser,
  Registry,
  tf,
} from "@shears/core";
import { buildModel } from "@shears/models";
import rni, {
  gammaOf,
  l1Loss,
  rniLoss,
  rniParamGroups,
  SigmoidBatchNorm,
  toSigmoidBatchNorm,
} from "@shears/rni";
import { allClose, deepEqual, equal, ok, throws } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

const opts = { inputShape: [32, 32, 1], numClasses: 3, width: 0.125, seed: 2 };
const sig = (z: number) => 1 / (1 + Math.exp(-z));
const term = (t: number, b: number) => sig(t + b) * (1 - Math.log(sig(t + b)));

Deno.test("rni regularizer: value Σ s(1 − log s) and gradient −s(1−s)·log s, numerically", () => {
  const base = buildModel("vgg11_bn", opts);
  const model = toSigmoidBatchNorm(base, { seed: 3 });
  const layers = model.layers.filter((l) => l instanceof SigmoidBatchNorm) as SigmoidBatchNorm[];
  const reg = new Registry([rni]).regularizer("rni");
  for (const b of [0, 3]) {
    const thetas = layers.map((l) => Array.from(l.theta.read().dataSync()));
    const want = thetas.flat().reduce((p, t) => p + term(t, b), 0);
    const r = reg.loss!(model, { b });
    allClose(r.dataSync(), [want], { rtol: 1e-5 }, `R (b=${b})`);
    r.dispose();
    const vars = layers.map((l) => l.theta.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => rniLoss(model, b), vars);
    layers.forEach((_, k) => {
      const closed = thetas[k].map((t) => {
        const s = sig(t + b);
        return -s * (1 - s) * Math.log(s);
      });
      const numeric = thetas[k].map((t) => (term(t + 1e-4, b) - term(t - 1e-4, b)) / 2e-4);
      allClose(closed, numeric, { rtol: 1e-4, atol: 1e-7 }, "closed form vs finite differences");
      allClose(
        grads[vars[k].name].dataSync(),
        closed,
        { rtol: 1e-3, atol: 1e-6 },
        `dR/dθ layer ${k}`,
      );
    });
    tf.dispose([value, ...Object.values(grads)]);
  }
  // the gradient vanishes at both ends and is positive in between (pushes θ down) for s < 1
  const g = (t: number) => -sig(t) * (1 - sig(t)) * Math.log(sig(t));
  ok(g(-20) < 1e-7 && g(20) < 1e-7 && g(0) > 0.17, "vanishes at s -> 0 and s -> 1");
  throws(() => rniLoss(base, 3), /needs SigmoidBatchNorm layers/);
  base.dispose();
  model.dispose();
});

Deno.test("l1 regularizer: Σ|γ| over all BNs, gradient sign(γ); γ initialised 0.5 by the builder", () => {
  const model = buildModel("vgg11_bn", { ...opts, bnGammaInit: 0.5 });
  const bns = model.layers.filter((l) => l.getClassName() === "BatchNormalization");
  equal(bns.length, 8);
  const gammas = bns.map((l) => gammaOf(l));
  ok(gammas.every((g) => g.read().dataSync().every((v) => v === 0.5)), "gamma 0.5");
  gammas[0].write(
    tf.tensor1d(Array.from({ length: gammas[0].shape[0]! }, (_, i) => i % 2 ? -0.3 : 0.7)),
  );
  const flat = gammas.flatMap((g) => Array.from(g.read().dataSync()));
  const r = new Registry([rni]).regularizer("l1").loss!(model, {});
  allClose(r.dataSync(), [flat.reduce((p, v) => p + Math.abs(v), 0)], { rtol: 1e-5 }, "Σ|γ|");
  const vars = gammas.map((g) => g.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => l1Loss(model), vars);
  allClose(grads[vars[0].name].dataSync(), Array.from(vars[0].dataSync(), Math.sign), {}, "sign");
  tf.dispose([r, value, ...Object.values(grads)]);
  model.dispose();
});

Deno.test("the rni regularizer's groups: SigBN thetas at 10x lr and no weight decay; multistep at 50%/75%", () => {
  const base = buildModel("vgg11_bn", opts);
  const model = toSigmoidBatchNorm(base, { seed: 1 });
  deepEqual(rniParamGroups(base), []);
  const rniReg = new Registry([rni]).regularizer("rni");
  deepEqual(rniReg.paramGroups!(base, {}), []);
  // the reference's recipe, as pipelines/rni.ts trains with it
  const cfg = {
    optimizer: { kind: "sgd", lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 } as const,
    schedule: multistepAt(10),
    groups: rniReg.paramGroups!(model, {}),
  };
  deepEqual([0, 4, 5, 6, 7, 9].map((e) => +lrAt(cfg.schedule, 0.1, e, 10).toPrecision(6)), [
    0.1,
    0.1,
    0.01,
    0.01,
    0.001,
    0.001,
  ]);
  deepEqual(multistepAt(3), { kind: "multistep", milestones: [1, 2], gamma: 0.1 }, "floored");
  const [grp] = cfg.groups;
  ok(grp.match("features_bn3/theta") && !grp.match("features_conv3/kernel"));
  // one SGD step from zero momentum: theta moves by 10·lr·g, conv kernel by lr·(g + wd·w)
  const theta = (model.getLayer("features_bn1") as SigmoidBatchNorm).theta.read() as tf.Variable;
  const kernel = model.getLayer("features_conv1").weights[0].read() as tf.Variable;
  const t0 = theta.dataSync().slice(), k0 = kernel.dataSync().slice();
  const opt = makeOptimizer(cfg.optimizer, cfg.groups);
  const grads = { [theta.name]: tf.onesLike(theta), [kernel.name]: tf.onesLike(kernel) };
  opt.step(
    [
      { name: "features_bn1/theta", variable: theta },
      { name: "features_conv1/kernel", variable: kernel },
    ],
    grads,
    0.1,
  );
  // nesterov first step: d = g + 0.9·g = 1.9·g
  allClose(
    theta.dataSync(),
    Array.from(t0, (v) => v - 1.0 * 1.9),
    { rtol: 1e-5, atol: 1e-5 },
    "theta",
  );
  allClose(kernel.dataSync(), Array.from(k0, (v) => v - 0.1 * 1.9 * (1 + 1e-4 * v)), {
    rtol: 1e-5,
    atol: 1e-6,
  }, "kernel");
  opt.dispose();
  tf.dispose(Object.values(grads));
  base.dispose();
  model.dispose();
});

Deno.test("checkRegularizer: rni/rni on a model without SigBN is one line naming the flag; l1 fits", () => {
  const plain = buildModel("vgg11_bn", opts);
  const parts = new PartChooser(new Registry([rni]));
  const [rniReg, l1Reg] = ["rni", "l1"].map((n) => parts.choose("regularizer", "regularizers", n));
  const before = tf.memory().numTensors;
  throws(() => checkRegularizer("--regularizer", rniReg, plain), (e: Error) => {
    ok(isUserFacing(e) && !e.message.includes("\n"), e.message);
    equal(
      e.message,
      "--regularizer rni/rni does not fit this model: the rni regularizer needs SigmoidBatchNorm " +
        `layers; model '${plain.name}' has none (apply the rni/sigmoid_bn transform first)`,
    );
    return true;
  });
  checkRegularizer("--regularizer", l1Reg, plain);
  equal(tf.memory().numTensors, before, "the trial losses are disposed");
  plain.dispose();
});
