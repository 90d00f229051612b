/**
 * Choosing a run's parts from flags, before any work: each part by registry
 * name (built-in or from `--plugin`), its target checked against what the
 * pipeline prunes, its options taken from `--opt part.key=value` entries
 * (and from pipeline flags that set the same option) and checked against
 * what the part declares. Every problem is a one-line usage error; so is an
 * `--opt` entry that names no part of the run. Also: the parts section of a
 * pipeline's `--help`, and preflight checks of layer names, input shapes,
 * budgets and regularizers against the model a run will use.
 *
 * @example
 * ```ts
 * const parts = new PartChooser(ctx.registry, flags.opt);
 * const scorer = parts.choose("scorer", "scorers", flags.scorer, {
 *   target: "activations", defaults: { depth_bias: flags.depth_bias } });
 * parts.done(); // unclaimed --opt entries are errors
 * score({ scorer }); // its name and options
 * ```
 * @module
 */
import { tf } from "./tf.ts";
import {
  type Options,
  type PartKind,
  type PartOf,
  type Registry,
  type ScoreTarget,
  UnknownNameError,
} from "./plugin.ts";
import { flagLines, readOptions, showValue } from "./flags.ts";
import { UsageError } from "./errors.ts";
import { type Budget, keepCount } from "./budget.ts";
import type { WeightedRegularizer } from "./train.ts";

/** What else a pipeline says about a part it asks for. */
export interface PartChoice {
  /** The flag that names it, for messages; default `--<role>`. */
  flag?: string;
  /** The target(s) the pipeline prunes (scorers and pruners). */
  target?: ScoreTarget | readonly ScoreTarget[];
  /** Values of pipeline flags for this part's options: used where the part declares them. */
  defaults?: Options;
}

/** A part by registry name with its options, as stages take it. */
export interface PartRef {
  name: string;
  options?: Options;
}

/** A chosen part: its full name, the part, and its converted options. */
export interface Chosen<K extends PartKind> extends PartRef {
  part: PartOf<K>;
  options: Options;
}

/**
 * A chosen regularizer with its weight in the loss, as training stages take it.
 *
 * @example
 * ```ts
 * finetune({ ...cfg, regularizers: [weighted(reg, 1e-4)] });
 * ```
 */
export function weighted(reg: Chosen<"regularizers">, weight: number): WeightedRegularizer {
  return { name: reg.name, reg: reg.part, weight, options: reg.options };
}

const singular = (kind: PartKind) => kind.slice(0, -1);

/** Chooses the parts of one run; see the module doc. */
export class PartChooser {
  #entries: Map<string, unknown>;
  #claimed = new Set<string>();
  #chosen: string[] = [];

  /** @param opt the `--opt` entries, `part.key` -> raw value */
  constructor(readonly registry: Registry, opt: Record<string, unknown> = {}) {
    this.#entries = new Map(Object.entries(opt));
    for (const k of this.#entries.keys()) {
      const dot = k.lastIndexOf(".");
      if (dot <= 0 || dot === k.length - 1) {
        throw new UsageError(`--opt ${k}: say part.key=value, e.g. --opt scorer.momentum=0.9`);
      }
    }
  }

  /**
   * Resolves one part of `kind` called `given` (full or short name); `role`
   * (e.g. "scorer") also names it in `--opt role.key=value`.
   */
  choose<K extends PartKind>(role: string, kind: K, given: string, c: PartChoice = {}): Chosen<K> {
    const flag = c.flag ?? `--${role}`;
    const targets = c.target === undefined ? undefined : [c.target].flat();
    const fit = () =>
      this.registry.parts(kind)
        .filter(([, p]) => {
          const t = (p as { target?: ScoreTarget }).target;
          return !targets || !t || targets.includes(t);
        })
        .map(([n]) => n);
    let name: string, part: PartOf<K>;
    try {
      name = this.registry.fullName(kind, given);
      part = this.registry.find(kind, name);
    } catch (e) {
      if (e instanceof UnknownNameError) {
        // the known parts of the pipeline's target only: the others would be refused anyway
        throw new UsageError(
          `${flag}: ${new UnknownNameError(singular(kind), given, fit()).message}`,
        );
      }
      if ((e as Error).name === "PluginError") {
        throw new UsageError(`${flag}: ${(e as Error).message}`);
      }
      throw e;
    }
    const target = (part as { target?: ScoreTarget }).target;
    if (targets && target && !targets.includes(target)) {
      throw new UsageError(
        `${flag} ${name} works on ${target}; this pipeline prunes ${targets.join(" or ")} ` +
          `(${singular(kind)}s of that target: ${fit().join(", ") || "none"})`,
      );
    }
    const short = name.slice(name.indexOf("/") + 1);
    const explicit: Options = {};
    for (const [k, v] of this.#entries) {
      const owner = k.slice(0, k.lastIndexOf("."));
      if (owner === role || owner === name || owner === short) {
        explicit[k.slice(k.lastIndexOf(".") + 1)] = v;
        this.#claimed.add(k);
      }
    }
    const defs = part.options ?? {};
    const soft = Object.fromEntries(
      Object.entries(c.defaults ?? {}).filter(([k, v]) =>
        Object.hasOwn(defs, k) && v !== undefined
      ),
    );
    const options = readOptions(defs, { ...soft, ...explicit }, (k) => `--opt ${name}.${k}`);
    this.#chosen.push(`${role} ${name}`);
    return { name, part, options };
  }

  /** Throws for an `--opt` entry no chosen part claimed. */
  done(): void {
    for (const k of this.#entries.keys()) {
      if (this.#claimed.has(k)) continue;
      throw new UsageError(
        `--opt ${k}=${showValue(this.#entries.get(k))}: '${
          k.slice(0, k.lastIndexOf("."))
        }' is not a part of this run (its parts: ${this.#chosen.join(", ") || "none"})`,
      );
    }
  }
}

/** A part a pipeline asks {@link chooseParts} for: its kind, the name given, and the choice. */
export interface PartWant<K extends PartKind> extends PartChoice {
  kind: K;
  name: string;
}

/** The chosen part for a want: undefined for none, either for a want that may be undefined. */
type ChosenFor<T> = T extends PartWant<infer K> ? Chosen<K> : undefined;

/** What {@link chooseParts} gives for each role: the chosen part (undefined where none was asked). */
export type ChosenParts<W> = { [R in keyof W]: ChosenFor<W[R]> };

/**
 * Chooses a run's parts at once, by role (the role names them in `--opt
 * role.key=value` and, as `--<role>`, in messages), then refuses `--opt`
 * entries no part claimed ({@link PartChooser}). A role asked for as
 * undefined (e.g. no regularizer) gives undefined.
 *
 * @example
 * ```ts
 * const { scorer, pruner } = chooseParts(ctx.registry, f.opt, {
 *   scorer: { kind: "scorers", name: f.scorer, target: "channels" },
 *   pruner: { kind: "pruners", name: f.pruner, target: "channels", defaults: { round_to: 4 } },
 * });
 * ```
 */
export function chooseParts<W extends Record<string, PartWant<PartKind> | undefined>>(
  registry: Registry,
  opt: Record<string, unknown> | undefined,
  wants: W,
): ChosenParts<W> {
  const parts = new PartChooser(registry, opt);
  const out = Object.fromEntries(
    Object.entries(wants).map(([role, w]) => [role, w && parts.choose(role, w.kind, w.name, w)]),
  );
  parts.done();
  return out as ChosenParts<W>;
}

/** What a pipeline takes, for its `--help`: the target it prunes and the flag naming each kind. */
export interface PartsTaken {
  /** The target: one, several, or "any" (prune.ts: the scorer's). */
  target: ScoreTarget | readonly ScoreTarget[] | "any";
  /** The flag that names a part of each kind the pipeline uses, e.g. `{ scorers: "--scorer" }`. */
  flags: Partial<Record<PartKind, string>>;
}

/**
 * The parts section of a pipeline's `--help`: the target it prunes, then
 * for each kind it takes every registered part that fits (built-in and
 * `--plugin` ones), with description and options.
 *
 * @example
 * ```ts
 * console.log(partsHelp(registry, { target: "weights", flags: { scorers: "--scorer" } }));
 * ```
 */
export function partsHelp(registry: Registry, takes: PartsTaken): string {
  const targets = takes.target === "any" ? undefined : [takes.target].flat();
  const lines = [
    "",
    `target: ${targets ? targets.join(", ") : "any (the scorer's)"}. Parts by registry name ` +
    "(plugin/part, or part when the own plugin's or unique); options with --opt " +
    "part.key=value (the defaults shown are the part's own; a pipeline flag that sets the same " +
    "option replaces them, --opt wins):",
  ];
  for (const [kind, flag] of Object.entries(takes.flags) as [PartKind, string][]) {
    lines.push("", `${flag} (${kind}):`);
    for (const [name, part] of registry.parts(kind)) {
      const t = (part as { target?: ScoreTarget }).target;
      if (targets && t && !targets.includes(t)) continue;
      lines.push(`  ${name}${t && !targets ? ` [${t}]` : ""}: ${part.description}`);
      lines.push(...flagLines(part.options ?? {}, `--opt ${name}.`, "      "));
    }
  }
  return lines.join("\n");
}

/**
 * Throws a usage error naming `flag` when a layer of `names` is not in
 * `model` (`what` names the model in the message).
 *
 * @example
 * ```ts
 * checkLayers("--at_layers", student, ["layer2_1_relu2"], "the student");
 * ```
 */
export function checkLayers(flag: string, model: tf.LayersModel, names: string[], what: string) {
  const have = new Set(model.layers.map((l) => l.name));
  const bad = names.filter((n) => !have.has(n));
  if (bad.length) {
    throw new UsageError(
      `${flag}: ${what} (${model.name}) has no layer ${bad.join(", ")}; its layers include ${
        model.layers.slice(1, 6).map((l) => l.name).join(", ")
      }, ...`,
    );
  }
}

/**
 * Throws a usage error when `model` does not take `inputShape` images and
 * give one vector of `numClasses` outputs per image (`what` names it, e.g.
 * "--path_t runs/t/model"); a model whose output has more axes (a U-Net's
 * per-pixel logits) is refused, the message naming both shapes.
 *
 * @example
 * ```ts
 * checkModelShape("--path_t runs/t/model", teacher, [28, 28, 1], 10, "mnist");
 * ```
 */
export function checkModelShape(
  what: string,
  model: tf.LayersModel,
  inputShape: number[],
  numClasses: number,
  data: string,
): void {
  const inShape = (model.inputs[0].shape as number[]).slice(1);
  const outShape = (model.outputs[0].shape as number[]).slice(1);
  if (inShape.join() !== inputShape.join() || outShape.join() !== String(numClasses)) {
    throw new UsageError(
      `${what} maps [${inShape}] to [${outShape}], but ${data} needs [${inputShape}] to ` +
        `[${numClasses}] (one score per class)`,
    );
  }
}

/**
 * The units `budget` keeps of `total` (core's keepCount), as a usage error
 * naming `flag` and `what` the units are when the budget cannot be met.
 *
 * @example
 * ```ts
 * checkBudget("--target_relus", { keep: 10_000_000 }, 48_000, "ReLU elements");
 * // UsageError: --target_relus 10000000: the model has 48000 ReLU elements ...
 * ```
 */
export function checkBudget(flag: string, budget: Budget, total: number, what: string): number {
  try {
    return keepCount(budget, total);
  } catch (e) {
    const value = budget.keep ?? budget.keepRatio ?? budget.remove;
    throw new UsageError(
      `${flag} ${value}: the model has ${total} ${what}; ${
        (e as Error).message.replace(/^the budget keeps \d+ units; it/, "it")
      }`,
    );
  }
}

/**
 * Throws a usage error naming `flag` when the regularizer `reg` cannot
 * compute its loss on `model` (e.g. rni/rni on a model without
 * SigmoidBatchNorm layers): a check before training, not after its first
 * batch. A regularizer with no weight loss (a feature loss) passes.
 *
 * @example
 * ```ts
 * checkRegularizer("--regularizer", reg, model);
 * // UsageError: --regularizer rni/rni does not fit this model: the rni regularizer needs ...
 * ```
 */
export function checkRegularizer(
  flag: string,
  reg: Chosen<"regularizers">,
  model: tf.LayersModel,
): void {
  try {
    if (reg.part.loss) tf.tidy(() => void reg.part.loss!(model, reg.options));
  } catch (e) {
    throw new UsageError(`${flag} ${reg.name} does not fit this model: ${(e as Error).message}`);
  }
}
