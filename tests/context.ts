/**
 * A fresh RunContext for tests: empty masks and scores, step 0 of 1, a seeded
 * rng and a registry of the given plugins. Pass the fields a test needs
 * (model, data, signal, ...). Also a silent emitter and a never-set
 * cancellation for driving `train()` and stage bodies directly.
 * @module
 */
import {
  type Cancel,
  type Emit,
  MaskSet,
  type Plugin,
  Registry,
  Rng,
  type RunContext,
} from "@shears/core";

/** Fields of the context to set, plus the rng seed and the plugins to register. */
export interface TestContextOptions extends Partial<RunContext> {
  /** Seed of `rng` (default 0); ignored when `rng` is given. */
  seed?: number;
  /** Plugins registered in `registry` (default none); ignored when `registry` is given. */
  plugins?: Plugin[];
}

/**
 * A RunContext with test defaults, overridden by `fields`.
 *
 * @example
 * ```ts
 * const ctx = testContext({ model, seed: 7, plugins: [reluTaylor] });
 * ```
 */
export function testContext(
  { seed = 0, plugins = [], ...fields }: TestContextOptions = {},
): RunContext {
  return {
    masks: new MaskSet(),
    scores: new Map(),
    step: { index: 0, total: 1 },
    signal: new AbortController().signal,
    rng: new Rng(seed),
    registry: new Registry(plugins),
    config: {},
    state: new Map(),
    report: {},
    ...fields,
  };
}

/**
 * An `Emit` that drops every event, for calling stage bodies and `train()`
 * directly.
 *
 * @example
 * ```ts
 * await train(ctx, cfg, quietEmit, notCancelled);
 * ```
 */
export const quietEmit: Emit = Object.assign(() => {}, {
  progress() {},
  metric() {},
  log() {},
  artifact() {},
}) as unknown as Emit;

/** A `Cancel` that never cancels. */
export const notCancelled: Cancel = { cancelled: false };
