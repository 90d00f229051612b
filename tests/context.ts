/**
 * A fresh RunContext for tests: empty masks and scores, step 0 of 1, seed 0,
 * an empty registry. Pass the fields a test needs (model, data, signal, ...).
 * @module
 */
import { MaskSet, Registry, Rng, type RunContext } from "@shears/core";

/** A RunContext with test defaults, overridden by `fields`. */
export function testContext(fields: Partial<RunContext> = {}): RunContext {
  return {
    masks: new MaskSet(),
    scores: new Map(),
    step: { index: 0, total: 1 },
    signal: new AbortController().signal,
    rng: new Rng(0),
    registry: new Registry(),
    config: {},
    state: new Map(),
    report: {},
    ...fields,
  };
}
