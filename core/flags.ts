/**
 * Typed flag definitions and their conversion: one schema ({@link FlagDefs})
 * for a pipeline's command-line flags and for the options a plugin part
 * declares. A raw value (a command-line string, or a recipe file's YAML
 * value) is converted and checked once ({@link coerceFlag}); a bad one is a
 * one-line {@link UsageError} naming it and what is accepted.
 *
 * @example
 * ```ts
 * const defs = {
 *   momentum: { type: "number", default: 0.95, min: 0, max: 1, maxExclusive: true, help: "EMA" },
 * } satisfies FlagDefs;
 * const o = readOptions(defs, { momentum: "0.9" }, "my_plugin/score"); // { momentum: 0.9 }
 * ```
 * @module
 */
import { UsageError } from "./errors.ts";

/**
 * Flag value types; `numbers` and `strings` are comma-separated lists;
 * `entries` is a repeatable `key=value` flag (a mapping in a recipe).
 */
export type FlagType = "string" | "number" | "int" | "boolean" | "numbers" | "strings" | "entries";

/** Every {@link FlagType}, for checking definitions that come from user code. */
export const flagTypes: readonly FlagType[] = [
  "string",
  "number",
  "int",
  "boolean",
  "numbers",
  "strings",
  "entries",
];

/** One flag: its type, help line, default and checks. */
export interface FlagDef {
  type: FlagType;
  help: string;
  default?: unknown;
  /** Accepted values (string flags, or each element of a `strings` list). */
  choices?: readonly string[];
  /** Range of a number (or of each element of a `numbers` list); inclusive unless `...Exclusive`. */
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  /** Extra check: returns a phrase completing "--name ..." (e.g. "must have 2 values") or undefined. */
  validate?: (v: unknown) => string | undefined;
  /** Flags that are alternatives to this one: giving both is a usage error. */
  excludes?: readonly string[];
}

/** Flags by name (names as typed after `--`, e.g. `global_keep_ratio`). */
export type FlagDefs = Record<string, FlagDef>;

/** The value type of a flag type. */
export type FlagValue<T extends FlagType> = T extends "string" ? string
  : T extends "number" | "int" ? number
  : T extends "boolean" ? boolean
  : T extends "numbers" ? number[]
  : T extends "entries" ? Record<string, unknown>
  : string[];

/** Parsed values, typed from the definitions; optional without a default (booleans default false). */
export type FlagValues<D extends FlagDefs> = {
  [K in keyof D]: D[K] extends { default: unknown } ? FlagValue<D[K]["type"]>
    : D[K]["type"] extends "boolean" ? boolean
    : FlagValue<D[K]["type"]> | undefined;
};

/** The accepted range of a numeric flag, as in "(0, 1]", "> 0" or "<= 5"; undefined when open. */
export function rangeText(d: FlagDef): string | undefined {
  const lo = d.min, hi = d.max;
  if (lo !== undefined && hi !== undefined) {
    return `${d.minExclusive ? "(" : "["}${lo}, ${hi}${d.maxExclusive ? ")" : "]"}`;
  }
  if (lo !== undefined) return `${d.minExclusive ? ">" : ">="} ${lo}`;
  if (hi !== undefined) return `${d.maxExclusive ? "<" : "<="} ${hi}`;
  return undefined;
}

function inRange(d: FlagDef, v: number): boolean {
  if (d.min !== undefined && (d.minExclusive ? v <= d.min : v < d.min)) return false;
  if (d.max !== undefined && (d.maxExclusive ? v >= d.max : v > d.max)) return false;
  return true;
}

/** A value as it would be typed: lists comma-joined, strings bare. */
export function showValue(v: unknown): string {
  return Array.isArray(v) ? v.join(",") : typeof v === "string" ? v : JSON.stringify(v);
}

/** One number from a string or a number; `int` requires an integer. */
function toNumber(label: string, d: FlagDef, raw: unknown): number {
  const n = typeof raw === "number"
    ? raw
    : typeof raw === "string" && raw.trim()
    ? Number(raw)
    : NaN;
  const int = d.type === "int";
  if (!Number.isFinite(n) || (int && !Number.isInteger(n))) {
    throw new UsageError(
      `${label} must be ${int ? "an integer" : "a number"}, got ${showValue(raw)}`,
    );
  }
  const range = rangeText(d);
  if (range && !inRange(d, n)) {
    const phrase = range.startsWith("(") || range.startsWith("[")
      ? `be in ${range}`
      : `be ${range}`;
    throw new UsageError(`${label} must ${phrase}, got ${showValue(raw)}`);
  }
  return n;
}

function checkChoice(label: string, d: FlagDef, s: string): string {
  if (d.choices && !d.choices.includes(s)) {
    throw new UsageError(`${label} must be one of ${d.choices.join(", ")}, got ${s}`);
  }
  return s;
}

function toList(label: string, raw: unknown): unknown[] {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === "string") return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (typeof raw === "number") return [raw];
  throw new UsageError(`${label} must be a comma-separated list, got ${showValue(raw)}`);
}

/**
 * `key=value` entries from a repeatable flag (a list of strings) or a
 * recipe's mapping (`{ key: value }`, nested mappings joined with dots).
 */
function toEntries(label: string, raw: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => {
    if (!k) throw new UsageError(`${label} needs key=value, got =${showValue(v)}`);
    out[k] = v;
  };
  const walk = (prefix: string, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    } else put(prefix, v);
  };
  for (const item of Array.isArray(raw) ? raw : [raw]) {
    if (typeof item === "string") {
      const eq = item.indexOf("=");
      if (eq < 0) throw new UsageError(`${label} needs key=value, got ${item}`);
      put(item.slice(0, eq).trim(), item.slice(eq + 1));
    } else if (item && typeof item === "object") walk("", item);
    else throw new UsageError(`${label} needs key=value, got ${showValue(item)}`);
  }
  return out;
}

/**
 * Converts a raw value (command-line string, or a recipe file's value) as
 * `d` says and checks it; `label` names it in errors (e.g. "--epochs").
 *
 * @example
 * ```ts
 * coerceFlag("--epochs", { type: "int", min: 1, help: "epochs" }, "3"); // 3
 * ```
 */
export function coerceFlag(label: string, d: FlagDef, raw: unknown): unknown {
  let v: unknown;
  switch (d.type) {
    case "string":
      if (typeof raw !== "string" && typeof raw !== "number") {
        throw new UsageError(`${label} must be a string, got ${showValue(raw)}`);
      }
      v = checkChoice(label, d, String(raw));
      break;
    case "number":
    case "int":
      v = toNumber(label, d, raw);
      break;
    case "boolean":
      if (raw === true || raw === "true") v = true;
      else if (raw === false || raw === "false") v = false;
      else throw new UsageError(`${label} must be true or false, got ${showValue(raw)}`);
      break;
    case "numbers":
      v = toList(label, raw).map((x) => toNumber(label, { ...d, type: "number" }, x));
      break;
    case "strings":
      v = toList(label, raw).map((x) => checkChoice(label, d, String(x)));
      break;
    case "entries":
      v = toEntries(label, raw);
      break;
  }
  const msg = d.validate?.(v);
  if (msg) throw new UsageError(`${label} ${msg}`);
  return v;
}

/**
 * A part's options: each declared option from `raw` (converted and checked)
 * or its default; an undeclared key is an error. `owner` names the part in
 * messages, e.g. "relu_taylor/taylor" gives "relu_taylor/taylor option
 * momentum must be in [0, 1), got 2" (`--opt` passes its own labels).
 *
 * @example
 * ```ts
 * const o = readOptions({ b: { type: "number", default: 3, help: "shift" } }, {}, "rni/rni");
 * o.b; // 3
 * ```
 */
export function readOptions<D extends FlagDefs>(
  defs: D,
  raw: Record<string, unknown>,
  owner: string | ((key: string) => string),
): FlagValues<D> {
  const label = typeof owner === "string" ? (k: string) => `${owner} option ${k}` : owner;
  for (const k of Object.keys(raw)) {
    if (!Object.hasOwn(defs, k)) {
      const known = Object.keys(defs);
      throw new UsageError(
        `${label(k)}: no such option; ${
          known.length ? `known: ${known.join(", ")}` : "it takes none"
        }`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, d] of Object.entries(defs)) {
    const v = raw[k];
    if (v !== undefined) out[k] = coerceFlag(label(k), d, v);
    else if (d.default !== undefined) out[k] = d.default;
    else if (d.type === "boolean") out[k] = false;
  }
  return out as FlagValues<D>;
}

/**
 * One line per flag for help texts: `--name <type>` and its help, choices,
 * range and default, aligned; `prefix` precedes each name (e.g. "--" or
 * "--opt part.").
 *
 * @example
 * ```ts
 * flagLines({ epochs: { type: "int", default: 5, help: "epochs" } }, "--", "  ");
 * // ["  --epochs <int>  epochs (default 5)"]
 * ```
 */
export function flagLines(defs: FlagDefs, prefix: string, indent: string): string[] {
  const heads = Object.entries(defs).map(([name, d]) =>
    d.type === "boolean" && prefix === "--"
      ? `${prefix}${name}`
      : `${prefix}${name}${prefix === "--" ? " " : "="}<${
        d.type === "numbers" || d.type === "strings"
          ? `${d.type.slice(0, -1)},...`
          : d.type === "entries"
          ? "key=value"
          : d.type
      }>`
  );
  const width = Math.min(40, Math.max(0, ...heads.map((h) => h.length)) + 2);
  return Object.values(defs).map((d, i) => {
    const notes: string[] = [];
    if (d.choices) notes.push(`one of ${d.choices.join(", ")}`);
    if (d.excludes) notes.push(`not with ${d.excludes.map((x) => `--${x}`).join(", ")}`);
    const range = rangeText(d);
    if (range) notes.push(/^[[(]/.test(range) ? `in ${range}` : range);
    const empty = Array.isArray(d.default) && d.default.length === 0;
    if (d.default !== undefined && !empty) notes.push(`default ${showValue(d.default)}`);
    const text = d.help + (notes.length ? ` (${notes.join("; ")})` : "");
    const head = `${indent}${heads[i]}`;
    return head.length + 1 > width + indent.length
      ? `${head}\n${" ".repeat(width + indent.length)}${text}`
      : `${head.padEnd(width + indent.length)}${text}`;
  });
}
