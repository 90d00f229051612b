/**
 * Reading plugin options (flag values by name) with defaults and one-line
 * errors that name the bad value and what is accepted.
 * @module
 */
import type { Options } from "@shears/core";

/** `options[key]` as a number in range, or `def` when absent. */
export function numberOption(
  options: Options,
  key: string,
  def: number,
  ok: (v: number) => boolean,
  accepted: string,
): number {
  const raw = options[key];
  if (raw === undefined) return def;
  const v = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
    throw new Error(`${key} must be ${accepted}, got ${raw}`);
  }
  return v;
}

/** `options[key]` as one of `choices`, or `def` when absent. */
export function choiceOption<T extends string>(
  options: Options,
  key: string,
  def: T,
  choices: readonly T[],
): T {
  const raw = options[key];
  if (raw === undefined) return def;
  if (!choices.includes(raw as T)) {
    throw new Error(`${key} must be one of ${choices.join(", ")}, got ${raw}`);
  }
  return raw as T;
}

/** `options[key]` as a boolean (true/false, "true"/"false"), or `def` when absent. */
export function booleanOption(options: Options, key: string, def: boolean): boolean {
  const raw = options[key];
  if (raw === undefined) return def;
  if (raw === true || raw === "true") return true;
  if (raw === false || raw === "false") return false;
  throw new Error(`${key} must be true or false, got ${raw}`);
}
