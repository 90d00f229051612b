/**
 * Sweep specs: a YAML (or JSON) file naming a pipeline, fixed flags, axes
 * (a `grid` crossed in full and/or a list of `points`), the output
 * directory, and what the report tabulates. Reading one resolves every
 * point and checks its flags against the pipeline's own flag definitions
 * (core's `parseFlags`, so an unknown flag or a value out of range is one
 * clear error) before anything runs or is enqueued.
 *
 * ```yaml
 * pipeline: relu_taylor
 * out: runs/sweeps/scorers        # default runs/sweeps/<spec file name>
 * flags: { dataset: synthetic, epochs: 2 }
 * grid:                           # every combination
 *   global_keep_ratio: [0.2, 0.05]
 *   seed: [0, 1, 2]
 * points:                         # each crossed with the grid
 *   - { scorer: taylor }
 *   - { scorer: random }
 * metrics: { top1: student_accuracy }   # default: the pipeline's (see metrics.ts)
 * plots: [{ x: global_keep_ratio, y: top1 }]
 * average_over: [seed]            # the default
 * ```
 *
 * A point is identified by a hash of the pipeline and its resolved flags
 * (defaults filled in), so a point that already completed with the same
 * flags is found again and skipped; its run directory is named by its axis
 * values plus that hash.
 *
 * @example
 * ```ts
 * const sweep = await readSpec("examples/sweeps/smoke.yaml");
 * sweep.points.map((p) => p.dir); // ["global_keep_ratio=0.2,seed=0-1a2b3c4d", ...]
 * ```
 * @module
 */
import { parse as parseYaml } from "yaml";
import { type FlagDefs, parseFlags, UsageError } from "@shears/core";
import { pipelineFlags, pipelineSpec } from "./pipelines.ts";
import { checkPath, defaultMetrics } from "./metrics.ts";

/** A flag value on an axis or among the fixed flags. */
export type FlagValue = string | number | boolean | (string | number)[];

/** One run of the sweep. */
export interface Point {
  /** 12 hex digits of a SHA-256 of the pipeline and the resolved flags. */
  id: string;
  /** Axis values, readable: "global_keep_ratio=0.2,seed=0". */
  label: string;
  /** Its run directory's name under `<out>/points/`: label (made file-safe) and hash. */
  dir: string;
  /** Its value on each axis. */
  axes: Record<string, FlagValue>;
  /** The pipeline's flag arguments, fixed and axis flags (the sweep adds `--out`). */
  args: string[];
}

/** One plot of the report: `y` (a metric) against `x` (an axis or a metric). */
export interface PlotSpec {
  x: string;
  y: string;
}

/** What the gathered report shows. */
export interface ReportSpec {
  /** Metric name -> JSON path into a point's report.json. */
  metrics: Record<string, string>;
  /** Axes whose values are repeats (mean and spread are taken over them). */
  average_over: string[];
  /** Plots named by the spec; default: `y` against each numeric axis, and against `cost`. */
  plots?: PlotSpec[];
  /** The main metric. */
  y?: string;
  /** A cost metric (MACs) to plot `y` against. */
  cost?: string;
}

/** A resolved sweep: everything an executor and the gatherer need. */
export interface Sweep {
  /** Hash of the pipeline and every point id: two sweeps differ iff their ids do. */
  id: string;
  pipeline: string;
  /** The spec file it was read from. */
  source: string;
  /** The sweep's directory. */
  out: string;
  /** Axis names, in the order they appear in the spec. */
  axes: string[];
  points: Point[];
  report: ReportSpec;
}

const KEYS = ["pipeline", "out", "flags", "grid", "points", "metrics", "plots", "average_over"];
/** Flags the sweep sets itself. */
const RESERVED = ["out", "help"];
/** Resolved flags that do not change what a run computes, so not part of a point's id. */
const NOT_IDENTITY = new Set(["out", "quiet", "config"]);

type Doc = Record<string, unknown>;

function mapping(v: unknown, where: string): Doc {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) {
    throw new UsageError(`${where} must be a mapping of names to values`);
  }
  return v as Doc;
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function flagValue(v: unknown, where: string): FlagValue {
  if (isScalar(v)) return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")) {
    return v as (string | number)[];
  }
  throw new UsageError(`${where} must be a value or a list of values, got ${JSON.stringify(v)}`);
}

function checkName(name: string, where: string): void {
  if (RESERVED.includes(name)) {
    throw new UsageError(
      `${where}: --${name} is set by the sweep (each point gets its own run directory)`,
    );
  }
}

/** Every combination of the grid's values, the first axis varying slowest. */
function product(grid: Record<string, FlagValue[]>): Record<string, FlagValue>[] {
  let out: Record<string, FlagValue>[] = [{}];
  for (const [k, values] of Object.entries(grid)) {
    out = out.flatMap((combo) => values.map((v) => ({ ...combo, [k]: v })));
  }
  return out;
}

/** Flag arguments for `flags`: `--name=value`, lists comma-joined, booleans `--name` / `--no-name`. */
function toArgs(flags: Record<string, FlagValue>, defs: FlagDefs): string[] {
  return Object.entries(flags).map(([k, v]) => {
    if (
      defs[k]?.type === "boolean" && (v === true || v === false || v === "true" || v === "false")
    ) {
      return v === true || v === "true" ? `--${k}` : `--no-${k}`;
    }
    return `--${k}=${Array.isArray(v) ? v.join(",") : v}`;
  });
}

/**
 * The label of a point's values on the axes `names`: "a=1,b=x" (lists
 * joined by +), "" with none.
 *
 * @example
 * ```ts
 * axesLabel({ seed: 1, scorer: "taylor" }, ["scorer", "seed"]); // "scorer=taylor,seed=1"
 * ```
 */
export function axesLabel(axes: Record<string, FlagValue>, names: string[]): string {
  return names.filter((k) => Object.hasOwn(axes, k)).map((k) => {
    const v = axes[k];
    return `${k}=${Array.isArray(v) ? v.join("+") : v}`;
  }).join(",");
}

/** JSON with object keys sorted, so equal values hash equally. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Doc).filter(([, x]) => x !== undefined).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    );
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/**
 * Hex SHA-256 of `text`.
 *
 * @example
 * ```ts
 * (await sha256("abc")).slice(0, 8); // "ba7816bf"
 * ```
 */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function dirName(label: string, id: string): string {
  const safe = label.replace(/[^\w.=+,-]/g, "_").slice(0, 100);
  return `${safe || "point"}-${id.slice(0, 8)}`;
}

/** The axes of the spec: the grid's lists and the points' mappings. */
function axesOf(doc: Doc, where: string) {
  const grid: Record<string, FlagValue[]> = {};
  for (const [k, v] of Object.entries(mapping(doc.grid, `${where}: grid`))) {
    checkName(k, `${where}: grid`);
    if (!Array.isArray(v) || v.length === 0) {
      throw new UsageError(`${where}: grid.${k} must be a non-empty list of values`);
    }
    grid[k] = v.map((x, i) => flagValue(x, `${where}: grid.${k}[${i}]`));
  }
  if (doc.points !== undefined && (!Array.isArray(doc.points) || doc.points.length === 0)) {
    throw new UsageError(`${where}: points must be a non-empty list of mappings of flags`);
  }
  const listed = ((doc.points ?? [{}]) as unknown[]).map((p, i) => {
    const m = mapping(p, `${where}: points[${i}]`);
    const out: Record<string, FlagValue> = {};
    for (const [k, v] of Object.entries(m)) {
      checkName(k, `${where}: points[${i}]`);
      if (Object.hasOwn(grid, k)) {
        throw new UsageError(`${where}: '${k}' is both a grid axis and in points[${i}]; use one`);
      }
      out[k] = flagValue(v, `${where}: points[${i}].${k}`);
    }
    return out;
  });
  const combos = listed.flatMap((p) => product(grid).map((g) => ({ ...p, ...g })));
  const names = [...new Set([...listed.flatMap((p) => Object.keys(p)), ...Object.keys(grid)])];
  return { combos, names };
}

function reportSpec(doc: Doc, where: string, pipeline: string, axes: string[]): ReportSpec {
  const defaults = defaultMetrics(pipeline);
  let metrics = defaults.metrics;
  if (doc.metrics !== undefined) {
    metrics = {};
    for (const [name, path] of Object.entries(mapping(doc.metrics, `${where}: metrics`))) {
      if (!/^[\w.-]+$/.test(name)) {
        throw new UsageError(`${where}: metric name '${name}' may use letters, digits, _ . -`);
      }
      checkPath(path as string, `${where}: metrics.${name}`);
      metrics[name] = path as string;
    }
    if (Object.keys(metrics).length === 0) {
      throw new UsageError(`${where}: metrics is empty; name at least one or leave it out`);
    }
  }
  let average_over = axes.includes("seed") ? ["seed"] : [];
  if (doc.average_over !== undefined) {
    const list = doc.average_over;
    if (!Array.isArray(list) || list.some((a) => !axes.includes(a))) {
      throw new UsageError(
        `${where}: average_over must be a list of axes (${axes.join(", ") || "none"}), got ${
          JSON.stringify(list)
        }`,
      );
    }
    average_over = list as string[];
  }
  let plots: PlotSpec[] | undefined;
  if (doc.plots !== undefined) {
    if (!Array.isArray(doc.plots)) throw new UsageError(`${where}: plots must be a list`);
    plots = doc.plots.map((p, i) => {
      const m = mapping(p, `${where}: plots[${i}]`);
      const [x, y] = [m.x, m.y];
      if (typeof y !== "string" || !Object.hasOwn(metrics, y)) {
        throw new UsageError(
          `${where}: plots[${i}].y must be a metric (${Object.keys(metrics).join(", ")})`,
        );
      }
      if (typeof x !== "string" || !(axes.includes(x) || Object.hasOwn(metrics, x))) {
        throw new UsageError(
          `${where}: plots[${i}].x must be an axis or a metric (${
            [...axes, ...Object.keys(metrics)].join(", ")
          })`,
        );
      }
      return { x, y };
    });
  }
  const known = (m?: string) => (m && Object.hasOwn(metrics, m) ? m : undefined);
  return {
    metrics,
    average_over,
    ...(plots ? { plots } : {}),
    ...(known(defaults.y) ? { y: defaults.y } : {}),
    ...(known(defaults.cost) ? { cost: defaults.cost } : {}),
  };
}

/**
 * Resolves a parsed spec document (`source` names it in messages): every
 * point with its flags checked against the pipeline's flag definitions,
 * its id, label and run directory name. `opts.out` overrides the spec's
 * `out`. Throws a one-line {@link UsageError} naming the first bad key,
 * flag or value (and the point it is in).
 *
 * @example
 * ```ts
 * const sweep = await resolveSpec(
 *   { pipeline: "magnitude", grid: { p_prune: [0.3, 0.5], seed: [0, 1] } },
 *   "inline",
 *   { out: "runs/sweeps/mag" },
 * );
 * sweep.points.length; // 4
 * ```
 */
export async function resolveSpec(
  spec: unknown,
  source: string,
  opts: { out?: string } = {},
): Promise<Sweep> {
  const doc = mapping(spec, source);
  for (const k of Object.keys(doc)) {
    if (!KEYS.includes(k)) {
      throw new UsageError(`${source}: unknown key '${k}'; known: ${KEYS.join(", ")}`);
    }
  }
  if (typeof doc.pipeline !== "string") {
    throw new UsageError(`${source}: pipeline is required (the name of a pipelines/<name>.ts)`);
  }
  const pipeline = doc.pipeline;
  let spec_;
  try {
    spec_ = pipelineSpec(pipeline);
  } catch (e) {
    throw new UsageError(`${source}: ${(e as Error).message}`);
  }
  const defs = pipelineFlags(pipeline);
  const fixed: Record<string, FlagValue> = {};
  for (const [k, v] of Object.entries(mapping(doc.flags, `${source}: flags`))) {
    checkName(k, `${source}: flags`);
    fixed[k] = flagValue(v, `${source}: flags.${k}`);
  }
  const { combos, names } = axesOf(doc, source);
  for (const k of names) {
    if (Object.hasOwn(fixed, k)) {
      throw new UsageError(`${source}: '${k}' is both a fixed flag and an axis; use one`);
    }
  }
  const points: Point[] = [];
  const seen = new Map<string, string>();
  for (const axes of combos) {
    const label = axesLabel(axes, names);
    const args = toArgs({ ...fixed, ...axes }, defs);
    let flags: Record<string, unknown>;
    try {
      flags = parseFlags(defs, args, spec_) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`${source}: point ${label || "(fixed flags)"}: ${(e as Error).message}`);
    }
    const identity = Object.fromEntries(
      Object.entries(flags).filter(([k]) => !NOT_IDENTITY.has(k)),
    );
    const id = (await sha256(canonical({ pipeline, flags: identity }))).slice(0, 12);
    const twin = seen.get(id);
    if (twin !== undefined) {
      throw new UsageError(`${source}: points ${twin} and ${label} are the same run (same flags)`);
    }
    seen.set(id, label);
    points.push({ id, label, dir: dirName(label, id), axes, args });
  }
  const out = opts.out ?? (typeof doc.out === "string" ? doc.out : undefined) ??
    `runs/sweeps/${source.replace(/^.*\//, "").replace(/\.[^.]*$/, "")}`;
  const id = (await sha256(canonical({ pipeline, points: points.map((p) => p.id).sort() })))
    .slice(0, 16);
  return {
    id,
    pipeline,
    source,
    out: out.replace(/\/+$/, "") || "/",
    axes: names,
    points,
    report: reportSpec(doc, source, pipeline, names),
  };
}

/**
 * Reads and resolves the spec file at `path` (.yaml, .yml or .json); see
 * {@link resolveSpec}.
 *
 * @example
 * ```ts
 * const sweep = await readSpec("examples/sweeps/smoke.yaml", { out: "/tmp/smoke" });
 * ```
 */
export async function readSpec(path: string, opts: { out?: string } = {}): Promise<Sweep> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new UsageError(`sweep spec ${path}: ${why}`);
  }
  let doc: unknown;
  try {
    doc = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`sweep spec ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  return resolveSpec(doc, path, opts);
}
