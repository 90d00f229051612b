/**
 * PyTorch's optimizers (torch.optim.SGD with momentum, Nesterov and weight
 * decay; torch.optim.Adam) reimplemented in plain JS from their documentation,
 * and a seeded scenario that runs a Shears optimizer beside them: several steps
 * from non-zero weights and state, a learning rate that changes between steps,
 * and a parameter group (10x lr, no weight decay) beside an ordinary one. One
 * step from empty state cannot tell apart the momentum update, the Nesterov
 * formula or Adam's bias correction; five steps with changing gradients can.
 * Used on every backend (tests/optim_reference_test.ts) and for webgpu's fused
 * updates (tests/backend_webgpu_test.ts).
 *
 * @example
 * ```ts
 * for (const c of referenceCases) {
 *   const { got, want } = await runAgainstReference(c.cfg, c.reference);
 *   compareWithReference(got, want, c.name);
 * }
 * ```
 * @module
 */
import {
  makeOptimizer,
  type NamedVariable,
  type OptimizerConfig,
  type ParamGroup,
  Rng,
  tf,
} from "@shears/core";
import { allClose, equal } from "./assert.ts";

/** One parameter of the reference: float64 values, its lr multiplier and weight decay. */
export interface RefParam {
  w: number[];
  mult: number;
  wd: number;
}

/** PyTorch SGD (dampening 0): g += wd·w; b = g at the first step, else μ·b + g; d = nesterov ? g + μ·b : b. */
export function torchSgd(
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
export function torchAdam(
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

export const LRS = [0.1, 0.1, 0.05, 0.02, 0.08];
export const GROUPS: ParamGroup[] = [{
  match: (n) => n.endsWith("/gamma"),
  lrMult: 10,
  weightDecay: false,
}];

/**
 * Runs `cfg` (on the current backend) for LRS.length steps on a kernel [2, 3] and a BN gamma [3] (in
 * GROUPS) from seeded non-zero weights with seeded gradients, and returns
 * what Shears computed beside the reference's answer for the same run.
 */
export async function runAgainstReference(
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

export function compareWithReference(got: Float32Array[], want: number[][], what: string): void {
  got.forEach((g, i) => allClose(g, want[i], { rtol: 1e-5, atol: 1e-6 }, `${what} var ${i}`));
}

/** A configuration and the reference run it must match. */
export interface ReferenceCase {
  name: string;
  cfg: OptimizerConfig;
  reference: (params: RefParam[], grads: number[][][]) => number[][];
}

/** SGD with momentum, Nesterov, plain SGD, Adam (default and custom betas / eps). */
export const referenceCases: ReferenceCase[] = [
  {
    name: "sgd momentum",
    cfg: { kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
    reference: (p, g) => torchSgd(p, g, LRS, 0.9, false),
  },
  {
    name: "sgd nesterov",
    cfg: { kind: "sgd", lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    reference: (p, g) => torchSgd(p, g, LRS, 0.9, true),
  },
  {
    name: "sgd",
    cfg: { kind: "sgd", lr: 0.1, weightDecay: 1e-3 },
    reference: (p, g) => torchSgd(p, g, LRS, 0, false),
  },
  {
    name: "adam",
    cfg: { kind: "adam", lr: 0.01, weightDecay: 1e-2 },
    reference: (p, g) => torchAdam(p, g, LRS, [0.9, 0.999], 1e-8),
  },
  {
    name: "adam custom",
    cfg: { kind: "adam", lr: 0.01, weightDecay: 1e-2, betas: [0.5, 0.9], eps: 1e-3 },
    reference: (p, g) => torchAdam(p, g, LRS, [0.5, 0.9], 1e-3),
  },
];
