/**
 * What a sweep report tabulates: named metrics, each a JSON path into a
 * point's report.json (`student_accuracy`, `iterations[-1].macs`,
 * `results[-1].finetuned_top1 | results[-1].pruned_top1`: dotted keys,
 * `[i]` indices counting from the end when negative, `|` for a fallback
 * when the first is missing or null), and a default set per pipeline, so
 * a spec only names metrics to change them.
 *
 * @example
 * ```ts
 * const m = defaultMetrics("filter_taylor"); // { top1: "top1_after", macs: "iterations[-1].macs", ... }
 * readPath({ iterations: [{ macs: 9 }, { macs: 4 }] }, "iterations[-1].macs"); // 4
 * ```
 * @module
 */
import { UsageError } from "@shears/core";

/** The default metrics of a pipeline, the one plotted first (`y`), and a cost to plot it against. */
export interface MetricDefaults {
  metrics: Record<string, string>;
  /** The main metric (plotted against each numeric axis). */
  y?: string;
  /** A cost metric (MACs), plotted on x against `y` for channel methods. */
  cost?: string;
}

const byPipeline: Record<string, MetricDefaults> = {
  relu_taylor: {
    metrics: {
      student_top1: "student_accuracy",
      teacher_top1: "teacher_accuracy",
      relus: "relus_after",
    },
    y: "student_top1",
  },
  filter_taylor: {
    metrics: {
      top1: "top1_after",
      top1_before: "top1_before",
      macs: "iterations[-1].macs",
      params: "iterations[-1].params",
      filters: "iterations[-1].filters",
      speed_up: "ratios.speed_up",
    },
    y: "top1",
    cost: "macs",
  },
  rni: {
    metrics: {
      top1: "results[-1].finetuned_top1 | results[-1].pruned_top1",
      pruned_top1: "results[-1].pruned_top1",
      trained_top1: "trained.top1",
      macs: "results[-1].macs",
      params: "results[-1].params",
    },
    y: "top1",
    cost: "macs",
  },
  intra_fusion: {
    metrics: {
      fusion_top1: "mean_fusion_top1",
      default_top1: "mean_default_top1",
      base_top1: "base_top1",
    },
    y: "fusion_top1",
  },
  magnitude: {
    metrics: {
      top1: "sweep[-1].top1",
      pruned_fraction: "sweep[-1].pruned_fraction",
      top1_dense: "top1_dense",
    },
    y: "top1",
  },
  train_teacher: { metrics: { top1: "top1", params: "model.params" }, y: "top1" },
  validate: {
    metrics: { top1: "top1", top5: "top5", macs: "model.macs", params: "model.params" },
    y: "top1",
  },
};

/**
 * The default metrics of `pipeline` (every one also gets `seconds`, the
 * run's wall time). A pipeline without defaults gets `seconds` only here;
 * the gatherer then adds every top-level number of its reports.
 *
 * @example
 * ```ts
 * defaultMetrics("relu_taylor").y; // "student_top1"
 * ```
 */
export function defaultMetrics(pipeline: string): MetricDefaults {
  const d = byPipeline[pipeline] ?? { metrics: {} };
  return { ...d, metrics: { ...d.metrics, seconds: "seconds" } };
}

const STEP = /^(?:[A-Za-z_][\w-]*)(?:\.[A-Za-z_][\w-]*|\[-?\d+\])*$/;

/**
 * Throws a usage error unless `path` is a metric path (`a.b[-1].c`, with
 * `|` between fallbacks); `where` names it in the message.
 *
 * @example
 * ```ts
 * checkPath("ratios.speed_up", "metrics.speed_up"); // ok
 * ```
 */
export function checkPath(path: string, where: string): void {
  if (typeof path !== "string" || path.split("|").some((a) => !STEP.test(a.trim()))) {
    throw new UsageError(
      `${where} must be a JSON path like top1 or iterations[-1].macs (fallbacks with |), got ${
        JSON.stringify(path)
      }`,
    );
  }
}

function readOne(doc: unknown, path: string): unknown {
  let v = doc;
  for (const m of path.matchAll(/([^.[\]]+)|\[(-?\d+)\]/g)) {
    if (v === null || typeof v !== "object") return undefined;
    if (m[2] !== undefined) {
      if (!Array.isArray(v)) return undefined;
      const i = Number(m[2]);
      v = v.at(i);
    } else v = (v as Record<string, unknown>)[m[1]];
  }
  return v;
}

/**
 * The value at `path` in `doc`: the first fallback that is present and not
 * null, else undefined.
 *
 * @example
 * ```ts
 * readPath({ a: [{ b: 1 }, { b: 2 }] }, "a[-1].b"); // 2
 * readPath({ x: null, y: 3 }, "x | y"); // 3
 * ```
 */
export function readPath(doc: unknown, path: string): unknown {
  for (const alt of path.split("|")) {
    const v = readOne(doc, alt.trim());
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}
