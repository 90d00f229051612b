/**
 * Optimizers with PyTorch's semantics, so reference hyper-parameters carry
 * over: SGD with momentum, Nesterov and coupled weight decay (g += wd·w;
 * buf = m·buf + g, buf₀ = g; step = nesterov ? g + m·buf : buf), and Adam
 * (L2 weight decay added to the gradient, bias-corrected moments). Variables
 * can be grouped: a group multiplies the learning rate and can switch weight
 * decay off (RNI gives BN parameters 10x lr and no decay).
 *
 * On webgpu each float32 variable's whole update (decay, momentum or Adam's
 * moments, the step) runs as one fused dispatch, in place
 * (backends/webgpu/optimizer_update.ts); `SHEARS_WEBGPU_FUSED_OPTIMIZER=0`
 * switches back to the tensor ops below.
 *
 * @example
 * ```ts
 * const opt = makeOptimizer({ kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 * opt.step(vars, grads, 0.1);
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import { fusedUpdatesOn } from "./backends/webgpu/kernels.ts";
import { type FusedUpdate, fusedUpdate } from "./backends/webgpu/optimizer_update.ts";

/** Which optimizer and its settings. */
export interface OptimizerConfig {
  kind: "sgd" | "adam";
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** Adam betas; default [0.9, 0.999]. */
  betas?: [number, number];
  /** Adam epsilon; default 1e-8. */
  eps?: number;
}

/** Variables matched by `match` (on the weight's original name, `layer/param`) get these settings. */
export interface ParamGroup {
  match: (name: string) => boolean;
  lrMult?: number;
  weightDecay?: boolean;
}

/** A trainable variable with its original name. */
export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/** An optimizer stepping named variables with gradients keyed by the variables' engine names. */
export interface Optimizer {
  step(vars: NamedVariable[], grads: tf.NamedTensorMap, lr: number): void;
  dispose(): void;
}

/** Builds the optimizer `cfg` describes, honouring parameter `groups` (first match wins). */
export function makeOptimizer(cfg: OptimizerConfig, groups: ParamGroup[] = []): Optimizer {
  const state = new Map<tf.Variable, tf.Tensor[]>();
  let t = 0;
  const settings = (name: string) => {
    const g = groups.find((g) => g.match(name));
    return { mult: g?.lrMult ?? 1, wd: g?.weightDecay === false ? 0 : cfg.weightDecay ?? 0 };
  };
  const swap = (v: tf.Variable, next: tf.Tensor[]) => {
    state.get(v)?.forEach((s) => s.dispose());
    state.set(v, next.map((s) => tf.keep(s)));
  };
  const [b1, b2] = cfg.betas ?? [0.9, 0.999];
  const eps = cfg.eps ?? 1e-8;
  const mom = cfg.momentum ?? 0;
  const nesterov = cfg.nesterov ?? false;
  /** The fused step's settings at a variable's learning rate (its group's factor applied) and decay. */
  const fused = (lr: number, wd: number): FusedUpdate =>
    cfg.kind === "adam"
      ? { kind: "adam", lr, wd, beta1: b1, beta2: b2, eps, step: t }
      : { kind: "sgd", lr, wd, momentum: mom, nesterov };
  /** State buffers of the fused step (zero moments are the unfused path's first step too). */
  const buffers = cfg.kind === "adam" ? 2 : mom ? 1 : 0;
  return {
    step(vars, grads, lr) {
      t++;
      const onGpu = fusedUpdatesOn();
      for (const { name, variable: v } of vars) {
        const raw = grads[v.name];
        if (!raw) continue;
        const { mult, wd } = settings(name);
        if (onGpu && v.dtype === "float32" && raw.dtype === "float32") {
          const s = state.get(v) ??
            Array.from({ length: buffers }, () => tf.keep(tf.zerosLike(v)));
          state.set(v, fusedUpdate(v, raw, s, fused(lr * mult, wd)));
          continue;
        }
        tf.tidy(() => {
          const g = wd ? raw.add(v.mul(wd)) : raw;
          if (cfg.kind === "adam") {
            const [m0, v0] = state.get(v) ?? [tf.zerosLike(v), tf.zerosLike(v)];
            const m = m0.mul(b1).add(g.mul(1 - b1));
            const s = v0.mul(b2).add(g.square().mul(1 - b2));
            const mh = m.div(1 - b1 ** t), sh = s.div(1 - b2 ** t);
            v.assign(v.sub(mh.div(sh.sqrt().add(eps)).mul(lr * mult)));
            swap(v, [m, s]);
            return;
          }
          let d = g;
          if (mom) {
            const prev = state.get(v)?.[0];
            const buf = prev ? prev.mul(mom).add(g) : g.clone();
            d = nesterov ? g.add(buf.mul(mom)) : buf;
            swap(v, [buf]);
          }
          v.assign(v.sub(d.mul(lr * mult)));
        });
      }
    },
    dispose() {
      for (const s of state.values()) s.forEach((x) => x.dispose());
      state.clear();
    },
  };
}

/** Learning-rate schedules over epochs (0-based epoch, fraction `progress` within it). */
export type Schedule =
  | { kind: "constant" }
  | { kind: "multistep"; milestones: number[]; gamma: number }
  | { kind: "cosine"; minLr?: number };

/**
 * A multistep schedule placed by fractions of the run: the lr times `gamma`
 * at epoch floor(`epochs` x each fraction); by default x0.1 at 50% and 75%
 * (the CIFAR recipe of the VGG / ResNet / RNI papers).
 *
 * @example
 * ```ts
 * multistepAt(10); // { kind: "multistep", milestones: [5, 7], gamma: 0.1 }
 * ```
 */
export function multistepAt(epochs: number, fractions = [0.5, 0.75], gamma = 0.1): Schedule {
  return { kind: "multistep", milestones: fractions.map((p) => Math.floor(epochs * p)), gamma };
}

/**
 * The learning rate at `epoch` (0-based) of `epochs`: multistep multiplies by
 * gamma at each milestone epoch passed (PyTorch MultiStepLR); cosine anneals
 * per epoch from `lr` to `minLr` (CosineAnnealingLR with T_max = epochs).
 */
export function lrAt(s: Schedule, lr: number, epoch: number, epochs: number): number {
  if (s.kind === "multistep") return lr * s.gamma ** s.milestones.filter((m) => epoch >= m).length;
  if (s.kind === "cosine") {
    const min = s.minLr ?? 0;
    return min + (lr - min) * 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(1, epochs)));
  }
  return lr;
}
