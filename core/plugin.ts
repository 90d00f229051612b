/**
 * The plugin contract and the registry that finds plugins' parts by name.
 *
 * Parts read tensor values only asynchronously (`await t.data()`,
 * `await t.array()`), never with `dataSync` / `arraySync` / `bufferSync`:
 * the webgpu backend cannot read GPU memory synchronously. That is why
 * `onBatchEnd`, `scores`, `prune` and `apply` may return promises (callers
 * await them); only `onTap` and `Regularizer.loss`, which run inside the
 * backward pass and the gradient tape, are synchronous and must keep their
 * work on the device as tensors.
 *
 * A method is one module that default-exports a {@link Plugin}:
 *
 * @example
 * ```ts
 * import type { Plugin } from "@shears/core";
 * const plugin: Plugin = {
 *   name: "my_method",
 *   scorers: { l2: myL2Scorer },
 * };
 * export default plugin;
 * ```
 * @module
 */
import type { tf } from "./tf.ts";
import type { RunContext } from "./pipeline.ts";
import type { Batch } from "./data.ts";

/** What a score (and a mask) is over. */
export type ScoreTarget = "weights" | "channels" | "activations";

/**
 * Importance scores. Keys depend on the target:
 * `weights`: a weight variable's name (`conv1/kernel`), value of the weight's shape;
 * `channels`: a channel group id from `core/graph.ts`, value 1-D over the group's channels;
 * `activations`: a masked activation layer's name, value of its per-example shape (H,W,C).
 * Higher means more important. The holder disposes the tensors.
 */
export interface Scores {
  target: ScoreTarget;
  values: Map<string, tf.Tensor>;
}

/** A point of a model a scorer wants to see, with its gradient. */
export interface TapSpec {
  /** Layer name. */
  layer: string;
  /** Look at the layer's input (its first input) or its output. */
  at: "input" | "output";
}

/** Key of a tap in callbacks: `${layer}:${at}`. */
export function tapKey(t: TapSpec): string {
  return `${t.layer}:${t.at}`;
}

/** Where a training or scoring loop stands when it calls a session. */
export interface BatchInfo {
  epoch: number;
  /** Batch index within the epoch, from 0. */
  batch: number;
  /** Batches seen since the session started, from 1 after the first batch. */
  globalStep: number;
  batchesPerEpoch: number;
  loss: number;
}

/**
 * A scorer attached to a model for a while. Loops call `onTap` from inside the
 * backward pass (x and dy are valid only during the call: reduce them, keep
 * only what you need, dispose what you create; synchronous, so no reads of
 * tensor values) and await `onBatchEnd` after the optimizer step of each
 * batch (or after the backward pass when no step is taken), before the next
 * batch.
 */
export interface ScoreSession {
  /** Points whose (x, dy) the session wants on every batch; empty if none. */
  taps: TapSpec[];
  onTap?(key: string, x: tf.Tensor, dy: tf.Tensor): void;
  onBatchEnd?(info: BatchInfo, batch: Batch): void | Promise<void>;
  /** The current scores (callers await them); the caller owns and disposes their tensors. */
  scores(): Scores | Promise<Scores>;
  /** Releases everything the session holds. */
  dispose(): void;
}

/** Options handed to scorers, pruners, regularizers, transforms: flag values by name. */
export type Options = Record<string, unknown>;

/**
 * Computes importance for a target. `batches` says how the one-shot score
 * stage uses it: 0 = from the weights alone, n > 0 = run n training batches
 * through the tapped model (no optimizer step), "epoch" = one pass over the
 * training data.
 */
export interface Scorer {
  target: ScoreTarget;
  description: string;
  batches: number | "epoch";
  /** Run the model in training mode while scoring (BN batch statistics). Default true. */
  trainMode?: boolean;
  start(ctx: RunContext, options: Options): ScoreSession;
}

/** How much to keep; a pruner reads what applies to it. */
export interface Budget {
  /** Fraction of the target to keep, in (0, 1]. */
  keepRatio?: number;
  /** Exact number of units to keep. */
  keep?: number;
  /** Exact number of units to remove (this step). */
  remove?: number;
}

/** One row of a per-layer pruning table. */
export interface LayerPruneRow {
  name: string;
  before: number;
  after: number;
}

/** What a pruner did. */
export interface PruneResult {
  /** Units (weights, channels, activations) kept and in total, over the pruned target. */
  kept: number;
  total: number;
  perLayer: LayerPruneRow[];
  /**
   * For pruners that rebuild masks: units kept now that were pruned before
   * this call (as many were dropped when the count is unchanged).
   */
  revived?: number;
}

/**
 * Turns scores and a budget into masks (written to `ctx.masks` and applied) or
 * a structural edit (a new `ctx.model`). Callers await the result.
 */
export interface Pruner {
  target: ScoreTarget;
  description: string;
  prune(
    ctx: RunContext,
    scores: Scores,
    budget: Budget,
    options: Options,
  ): PruneResult | Promise<PruneResult>;
}

/** A loss term added during training; called inside the gradient tape. */
export interface Regularizer {
  description: string;
  /** Synchronous and read-free: the loss stays a tensor on the device. */
  loss(model: tf.LayersModel, options: Options): tf.Scalar;
}

/** A model rewrite (returns a new model; the input model is left usable). Callers await it. */
export interface Transform {
  description: string;
  apply(model: tf.LayersModel, options: Options): tf.LayersModel | Promise<tf.LayersModel>;
}

/** A pruning method: named parts a pipeline can combine. */
export interface Plugin {
  name: string;
  description?: string;
  scorers?: Record<string, Scorer>;
  pruners?: Record<string, Pruner>;
  regularizers?: Record<string, Regularizer>;
  transforms?: Record<string, Transform>;
}

type Kind = "scorers" | "pruners" | "regularizers" | "transforms";
type PartOf<K extends Kind> = NonNullable<Plugin[K]>[string];

/** An unknown plugin part, with the known names in the message. */
export class UnknownNameError extends Error {
  constructor(kind: string, name: string, known: string[]) {
    super(`unknown ${kind} '${name}'; known: ${known.length ? known.join(", ") : "(none)"}`);
    this.name = "UnknownNameError";
  }
}

/**
 * Plugins by name; parts are looked up as `plugin/part` (or just `part` when
 * only one plugin has a part of that name).
 *
 * @example
 * ```ts
 * const reg = new Registry([reluTaylor]);
 * const scorer = reg.scorer("relu_taylor/taylor");
 * ```
 */
export class Registry {
  #plugins = new Map<string, Plugin>();

  constructor(plugins: Plugin[] = []) {
    for (const p of plugins) this.add(p);
  }

  /** Adds a plugin; a second plugin of the same name is an error. */
  add(plugin: Plugin): this {
    if (!plugin || typeof plugin.name !== "string" || !plugin.name) {
      throw new Error("a plugin needs a non-empty string `name`");
    }
    if (this.#plugins.has(plugin.name)) {
      throw new Error(`plugin '${plugin.name}' is already registered`);
    }
    this.#plugins.set(plugin.name, plugin);
    return this;
  }

  /** The plugin called `name`. */
  plugin(name: string): Plugin {
    const p = this.#plugins.get(name);
    if (!p) throw new UnknownNameError("plugin", name, [...this.#plugins.keys()]);
    return p;
  }

  /** Names of all parts of a kind, as `plugin/part`. */
  names(kind: Kind): string[] {
    const out: string[] = [];
    for (const p of this.#plugins.values()) {
      for (const part of Object.keys(p[kind] ?? {})) out.push(`${p.name}/${part}`);
    }
    return out;
  }

  #find<K extends Kind>(kind: K, name: string): PartOf<K> {
    const known = this.names(kind);
    const singular = kind.slice(0, -1);
    const slash = name.indexOf("/");
    if (slash >= 0) {
      const part = this.#plugins.get(name.slice(0, slash))?.[kind]?.[name.slice(slash + 1)];
      if (!part) throw new UnknownNameError(singular, name, known);
      return part as PartOf<K>;
    }
    const hits = known.filter((k) => k.endsWith(`/${name}`));
    if (hits.length === 1) return this.#find(kind, hits[0]);
    if (hits.length > 1) {
      throw new Error(`${singular} '${name}' is ambiguous; say one of: ${hits.join(", ")}`);
    }
    throw new UnknownNameError(singular, name, known);
  }

  /** A scorer by name. */
  scorer(name: string): Scorer {
    return this.#find("scorers", name);
  }
  /** A pruner by name. */
  pruner(name: string): Pruner {
    return this.#find("pruners", name);
  }
  /** A regularizer by name. */
  regularizer(name: string): Regularizer {
    return this.#find("regularizers", name);
  }
  /** A transform by name. */
  transform(name: string): Transform {
    return this.#find("transforms", name);
  }
}

/**
 * Imports a user's plugin module (`--plugin ./my_plugin.ts`) and returns its
 * default export, checked to look like a {@link Plugin}.
 */
export async function importPlugin(specifier: string): Promise<Plugin> {
  const url = /^[a-z]+:/i.test(specifier)
    ? specifier
    : new URL(specifier, `file://${Deno.cwd()}/`).href;
  let mod: { default?: unknown };
  try {
    mod = await import(url);
  } catch (e) {
    throw new Error(
      `cannot import plugin module ${specifier}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  const p = mod.default as Plugin | undefined;
  if (!p || typeof p !== "object" || typeof p.name !== "string") {
    throw new Error(
      `plugin module ${specifier} must default-export a Plugin ({ name, scorers?, pruners?, ... })`,
    );
  }
  return p;
}
