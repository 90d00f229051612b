/**
 * The plugin contract and the registry that finds plugins' parts by name.
 *
 * A plugin holds named parts of five kinds: scorers (importance of a
 * target's units), pruners (scores and a budget -> masks or a smaller
 * model), regularizers (loss terms, optionally on features, with optimizer
 * groups), transforms (model rewrites) and training callbacks (e.g. a
 * progressive pruning schedule, driven with the run's scorer and pruner).
 * Each part describes itself and declares its options as `FlagDefs`;
 * pipelines choose parts by registry name (core/parts.ts). Plugins are
 * checked when added ({@link checkPlugin}); a bad one is a one-line
 * {@link PluginError}.
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
import type { Budget } from "./budget.ts";
import type { ParamGroup } from "./optim.ts";
import { type FlagDefs, flagTypes } from "./flags.ts";
import { markUserFacing } from "./errors.ts";

export type { Budget };

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

/**
 * Options handed to a part: its declared options by name. Through a
 * pipeline they arrive converted and checked against the part's `options`
 * (defaults filled in); a part called directly reads them with core's
 * `readOptions(part.options, options, name)`.
 */
export type Options = Record<string, unknown>;

/** What every part has: a description and the options it takes. */
export interface Part {
  description: string;
  /**
   * Options, in the schema of pipeline flags (type, default, range, choices,
   * help): listed by `--help`, set with `--opt part.key=value` or a recipe's
   * `opt:` mapping, and checked before a run starts.
   */
  options?: FlagDefs;
}

/** What the engine asks a scorer for. */
export interface ScoreRequest {
  /**
   * `channels` scorers: the channel group ids (core/graph.ts) the run
   * prunes. The scorer must give each of them a score; scores for other
   * groups of the model are dropped, ids the model does not have are an
   * error. Absent: the scorer scores the groups it knows how to.
   */
  groups?: string[];
}

/**
 * Computes importance for a target. `batches` says how the one-shot score
 * stage uses it: 0 = from the weights alone, n > 0 = run n training batches
 * through the tapped model (no optimizer step), "epoch" = one pass over the
 * training data.
 */
export interface Scorer extends Part {
  target: ScoreTarget;
  batches: number | "epoch";
  /** Run the model in training mode while scoring (BN batch statistics). Default true. */
  trainMode?: boolean;
  start(ctx: RunContext, options: Options, request?: ScoreRequest): ScoreSession;
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
export interface Pruner extends Part {
  target: ScoreTarget;
  prune(
    ctx: RunContext,
    scores: Scores,
    budget: Budget,
    options: Options,
  ): PruneResult | Promise<PruneResult>;
}

/**
 * A loss term added during training (weighted by the pipeline), called
 * inside the gradient tape: synchronous and read-free, the loss stays a
 * tensor on the device. It is either a function of the model's weights
 * (`loss`) or of intermediate features of the student and the teacher
 * (`features`, e.g. attention transfer), and may ask for optimizer settings
 * of its own for some variables (`paramGroups`).
 */
export interface Regularizer extends Part {
  loss?(model: tf.LayersModel, options: Options): tf.Scalar;
  features?: FeatureLoss;
  /** Learning-rate multipliers / weight-decay switches for some variables (first match wins). */
  paramGroups?(model: tf.LayersModel, options: Options): ParamGroup[];
}

/** A loss on the outputs of named layers of the student and of the teacher. */
export interface FeatureLoss {
  /** The layers whose outputs feed `loss`, in the student and in the teacher. */
  layers(options: Options): { student: string[]; teacher: string[] };
  loss(student: tf.Tensor[], teacher: tf.Tensor[], options: Options): tf.Scalar;
}

/** A model rewrite (returns a new model; the input model is left usable). Callers await it. */
export interface Transform extends Part {
  apply(model: tf.LayersModel, options: Options): tf.LayersModel | Promise<tf.LayersModel>;
}

/**
 * What a training callback drives: the run's scorer session (fed on every
 * batch by the training loop) and its pruner, bound together.
 */
export interface PruneDriver {
  /** The scorer's session; the loop feeds its taps and `onBatchEnd`. */
  session: ScoreSession;
  /** The budget to reach by the end of training. */
  budget: Budget;
  /** Epochs of the training the callback rides along. */
  epochs: number;
  /**
   * Scores now and prunes to `budget`. With `at` (the schedule's epoch, from
   * 1, and the global batch) the engine records the prune in the report.
   */
  prune(budget: Budget, at?: { epoch: number; batch: number }): Promise<PruneResult>;
  /** A line for the run's log. */
  log(message: string, level?: "info" | "warn"): void;
}

/** Hooks a training loop calls; each is awaited before the loop goes on. */
export interface TrainCallback {
  /** After each optimizer step (weight masks re-applied, score sessions fed). */
  onBatchEnd?(info: BatchInfo, batch: Batch): void | Promise<void>;
  /** After each epoch, with its numbers. */
  onEpochEnd?(epoch: number, stats: EpochStats): void | Promise<void>;
}

/** Numbers of one training epoch. */
export interface EpochStats {
  epoch: number;
  loss: number;
  acc: number;
  lr: number;
  seconds: number;
}

/** A callback attached to a run for one or more training stages. */
export interface CallbackSession extends TrainCallback {
  /** After the last training stage: e.g. set the final masks. Awaited. */
  finish?(): void | Promise<void>;
  dispose?(): void;
}

/**
 * A training callback (e.g. a progressive pruning schedule): started once
 * with the run's scorer and pruner bound in a {@link PruneDriver}.
 */
export interface Callback extends Part {
  start(ctx: RunContext, options: Options, driver: PruneDriver): CallbackSession;
}

/** A pruning method: named parts a pipeline can combine. */
export interface Plugin {
  name: string;
  description?: string;
  scorers?: Record<string, Scorer>;
  pruners?: Record<string, Pruner>;
  regularizers?: Record<string, Regularizer>;
  transforms?: Record<string, Transform>;
  callbacks?: Record<string, Callback>;
}

/** The kinds of parts a plugin holds. */
export type PartKind = "scorers" | "pruners" | "regularizers" | "transforms" | "callbacks";
/** Every {@link PartKind}. */
export const partKinds: readonly PartKind[] = [
  "scorers",
  "pruners",
  "regularizers",
  "transforms",
  "callbacks",
];
/** The part type of a kind. */
export type PartOf<K extends PartKind> = NonNullable<Plugin[K]>[string];

/** A bad plugin module or part (missing file, wrong shape, duplicate name): a user error. */
export class PluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PluginError";
  }
}
markUserFacing(PluginError);

/** An unknown plugin part, with the known names in the message. */
export class UnknownNameError extends Error {
  constructor(kind: string, name: string, known: string[]) {
    super(`unknown ${kind} '${name}'; known: ${known.length ? known.join(", ") : "(none)"}`);
    this.name = "UnknownNameError";
  }
}
markUserFacing(UnknownNameError);

/**
 * Plugins by name; parts are looked up as `plugin/part`, or just `part`
 * when only one plugin has a part of that name. `others` are plugins whose
 * parts are there too but never make a short name ambiguous: a short name
 * several plugins have means the one part of it outside `others` (a method
 * pipeline's own plugin's `taylor`, not another method's).
 *
 * @example
 * ```ts
 * const reg = new Registry([filterTaylor], [reluTaylor, intraFusion]);
 * reg.fullName("scorers", "taylor"); // "filter_taylor/taylor"
 * reg.scorer("intra_fusion/l1"); // another method's part, by its full name
 * ```
 */
export class Registry {
  #plugins = new Map<string, Plugin>();
  #others = new Set<string>();

  constructor(plugins: Plugin[] = [], others: Plugin[] = []) {
    for (const p of plugins) this.add(p);
    for (const p of others.filter((o) => !this.#plugins.has(o.name))) {
      this.add(p);
      this.#others.add(p.name);
    }
  }

  /** Adds a plugin (checked by {@link checkPlugin}); a second plugin of the same name is an error. */
  add(plugin: Plugin): this {
    checkPlugin(plugin);
    if (this.#plugins.has(plugin.name)) {
      throw new PluginError(`plugin '${plugin.name}' is already registered`);
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
  names(kind: PartKind): string[] {
    const out: string[] = [];
    for (const p of this.#plugins.values()) {
      for (const part of Object.keys(p[kind] ?? {})) out.push(`${p.name}/${part}`);
    }
    return out;
  }

  /** Every part of a kind with its full name, in registration order. */
  parts<K extends PartKind>(kind: K): [string, PartOf<K>][] {
    return this.names(kind).map((n) => [n, this.find(kind, n)]);
  }

  /** The full `plugin/part` name of a part given by full or short name. */
  fullName(kind: PartKind, name: string): string {
    const known = this.names(kind);
    const singular = kind.slice(0, -1);
    if (name.includes("/")) {
      if (!known.includes(name)) throw new UnknownNameError(singular, name, known);
      return name;
    }
    const hits = known.filter((k) => k.endsWith(`/${name}`));
    const own = hits.filter((k) => !this.#others.has(k.slice(0, k.indexOf("/"))));
    if (hits.length === 1) return hits[0];
    if (own.length === 1) return own[0];
    if (hits.length > 1) {
      throw new PluginError(`${singular} '${name}' is ambiguous; say one of: ${hits.join(", ")}`);
    }
    throw new UnknownNameError(singular, name, known);
  }

  /** A part of a kind by full (`plugin/part`) or short name. */
  find<K extends PartKind>(kind: K, name: string): PartOf<K> {
    const full = this.fullName(kind, name), slash = full.indexOf("/");
    return this.#plugins.get(full.slice(0, slash))![kind]![full.slice(slash + 1)] as PartOf<K>;
  }

  /** A scorer by name. */
  scorer(name: string): Scorer {
    return this.find("scorers", name);
  }
  /** A pruner by name. */
  pruner(name: string): Pruner {
    return this.find("pruners", name);
  }
  /** A regularizer by name. */
  regularizer(name: string): Regularizer {
    return this.find("regularizers", name);
  }
  /** A transform by name. */
  transform(name: string): Transform {
    return this.find("transforms", name);
  }
  /** A training callback by name. */
  callback(name: string): Callback {
    return this.find("callbacks", name);
  }
}

const TARGETS: readonly ScoreTarget[] = ["weights", "channels", "activations"];

/** What each kind of part must have, as [property, type] pairs. */
const SHAPES: Record<PartKind, [string, string][]> = {
  scorers: [["start", "function"], ["target", "target"], ["batches", "batches"]],
  pruners: [["prune", "function"], ["target", "target"]],
  regularizers: [],
  transforms: [["apply", "function"]],
  callbacks: [["start", "function"]],
};

/** Why `part` (of `kind`) is malformed, or undefined. */
function partProblem(kind: PartKind, part: unknown): string | undefined {
  if (!part || typeof part !== "object") return "is not an object";
  const p = part as Record<string, unknown>;
  if (typeof p.description !== "string") return "has no description string";
  for (const [key, type] of SHAPES[kind]) {
    const v = p[key];
    if (type === "function" && typeof v !== "function") return `has no ${key}() function`;
    if (type === "target" && !TARGETS.includes(v as ScoreTarget)) {
      return `has target ${JSON.stringify(v)}; it must be one of ${TARGETS.join(", ")}`;
    }
    if (type === "batches" && !(v === "epoch" || (Number.isInteger(v) && (v as number) >= 0))) {
      return `has batches ${JSON.stringify(v)}; it must be an integer >= 0 or "epoch"`;
    }
  }
  if (kind === "regularizers") {
    const f = p.features as Record<string, unknown> | undefined;
    if (typeof p.loss !== "function" && typeof f?.loss !== "function") {
      return "has neither a loss() function nor features.loss()";
    }
    if (f && (typeof f.layers !== "function" || typeof f.loss !== "function")) {
      return "has features without layers() and loss() functions";
    }
  }
  if (p.options !== undefined) {
    if (!p.options || typeof p.options !== "object") return "has options that are not a mapping";
    for (const [k, d] of Object.entries(p.options)) {
      const def = d as { type?: unknown; help?: unknown };
      if (!flagTypes.includes(def?.type as never) || typeof def.help !== "string") {
        return `has option '${k}' without a type (${flagTypes.join(", ")}) and a help string`;
      }
    }
  }
  return undefined;
}

/** What a plugin's and a part's name may hold (they are typed as `plugin/part`). */
const NAME = /^[\w.-]+$/;
/** The keys of a {@link Plugin}. */
const PLUGIN_KEYS: readonly string[] = ["name", "description", ...partKinds];

/**
 * Checks that `plugin` looks like a {@link Plugin}: a name of letters,
 * digits, '_', '-' or '.', no key a Plugin does not have, each kind a
 * mapping of well-formed parts (a scorer has `target`, `batches` and
 * `start`, a pruner `target` and `prune`, ...). Throws a one-line
 * {@link PluginError} naming what is wrong.
 *
 * @example
 * ```ts
 * checkPlugin({ name: "x", scorers: { s: { description: "no start" } } } as unknown as Plugin);
 * // PluginError: plugin 'x': scorer 's' has target undefined ...
 * ```
 */
export function checkPlugin(plugin: Plugin, where = ""): void {
  const at = where ? `${where}: ` : "";
  if (!plugin || typeof plugin !== "object") {
    throw new PluginError(`${at}a plugin must be an object ({ name, scorers?, pruners?, ... })`);
  }
  if (typeof plugin.name !== "string" || !NAME.test(plugin.name)) {
    throw new PluginError(
      `${at}a plugin needs a name of letters, digits, '_', '-' or '.' (it is typed in --scorer ` +
        `name/part): got ${JSON.stringify(plugin.name)}`,
    );
  }
  const unknown = Object.keys(plugin).find((k) => !PLUGIN_KEYS.includes(k));
  if (unknown !== undefined) {
    const meant = PLUGIN_KEYS.find((k) => k === `${unknown}s` || k === unknown.toLowerCase());
    throw new PluginError(
      `${at}plugin '${plugin.name}': unknown key '${unknown}'` +
        (meant ? ` (did you mean '${meant}'?)` : `; a plugin has ${PLUGIN_KEYS.join(", ")}`),
    );
  }
  for (const kind of partKinds) {
    const parts = plugin[kind] as unknown;
    if (parts === undefined) continue;
    if (!parts || typeof parts !== "object" || Array.isArray(parts)) {
      throw new PluginError(
        `${at}plugin '${plugin.name}': ${kind} must be a mapping of name to part`,
      );
    }
    for (const [name, part] of Object.entries(parts)) {
      const why = NAME.test(name)
        ? partProblem(kind, part)
        : "needs a name of letters, digits, '_', '-' or '.'";
      if (why) {
        throw new PluginError(
          `${at}plugin '${plugin.name}': ${kind.slice(0, -1)} '${name}' ${why}`,
        );
      }
    }
  }
}

/**
 * Imports a user's plugin module (`--plugin ./my_plugin.ts`) and returns its
 * default export, checked by {@link checkPlugin}. Every failure (no such
 * file, an import that throws, no default export, a malformed part) is a
 * one-line {@link PluginError}.
 *
 * @example
 * ```ts
 * const plugin = await importPlugin("./examples/relative_magnitude.ts");
 * ```
 */
export async function importPlugin(specifier: string): Promise<Plugin> {
  const url = /^[a-z][a-z0-9+.-]+:/i.test(specifier)
    ? specifier
    : new URL(specifier, `file://${Deno.cwd()}/`).href;
  if (url.startsWith("file:")) {
    try {
      if (!Deno.statSync(new URL(url)).isFile) throw new Deno.errors.NotFound();
    } catch {
      throw new PluginError(`--plugin ${specifier}: no such file`);
    }
  }
  let mod: { default?: unknown };
  try {
    mod = await import(url);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new PluginError(`--plugin ${specifier}: importing it failed: ${msg.split("\n")[0]}`);
  }
  const p = mod.default as Plugin | undefined;
  if (!p || typeof p !== "object" || typeof p.name !== "string") {
    throw new PluginError(
      `--plugin ${specifier} must default-export a Plugin ({ name, scorers?, pruners?, ... })`,
    );
  }
  checkPlugin(p, `--plugin ${specifier}`);
  return p;
}
