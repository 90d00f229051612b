/**
 * Gathers a sweep: reads every completed point's report.json, takes each
 * metric (a JSON path, metrics.ts) and groups the points by their axes
 * other than the repeats (`average_over`, default the seed), with mean,
 * sample standard deviation, min and max per group.
 *
 * @example
 * ```ts
 * const g = await gather(await readSweep("runs/sweeps/smoke"));
 * g.groups[0].stats.student_top1?.mean;
 * ```
 * @module
 */
import { readPath } from "./metrics.ts";
import { axesLabel, type FlagValue, type Point, type Sweep } from "./spec.ts";
import { pointDir, type PointRecord, readRecord } from "./store.ts";

/** A metric over a group's repeats. */
export interface Stat {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1); 0 for one value. */
  sd: number;
  min: number;
  max: number;
  values: number[];
}

/** One point's record and metric values (undefined: missing from its report, or not completed). */
export interface PointRow {
  point: Point;
  record: PointRecord;
  values: Record<string, number | undefined>;
}

/** Points that differ only in the averaged axes. */
export interface Group {
  /** Values of the other axes. */
  axes: Record<string, FlagValue>;
  /** "scorer=taylor,global_keep_ratio=0.1", or "all" with no such axis. */
  label: string;
  /** Points in the group (any status). */
  points: number;
  stats: Record<string, Stat | undefined>;
}

/** A gathered sweep. */
export interface Gathered {
  sweep: Sweep;
  /** The metrics tabulated (the spec's, plus every top-level number when it names none). */
  metrics: Record<string, string>;
  /** Axes that tell groups apart (the sweep's axes less `average_over`). */
  groupAxes: string[];
  rows: PointRow[];
  groups: Group[];
  /** Metric -> completed points whose report lacks it. */
  missing: Record<string, number>;
}

/**
 * Mean, sample standard deviation, min and max of `values`.
 *
 * @example
 * ```ts
 * stat([1, 2, 3]); // { n: 3, mean: 2, sd: 1, min: 1, max: 3, values: [1, 2, 3] }
 * ```
 */
export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return {
    n,
    mean,
    sd: n > 1 ? Math.sqrt(ss / (n - 1)) : 0,
    min: Math.min(...values),
    max: Math.max(...values),
    values,
  };
}

async function readReport(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
  } catch {
    return undefined;
  }
}

/** Every top-level number of the reports, by its own name, for a pipeline without defaults. */
function topLevelNumbers(reports: unknown[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of reports) {
    for (const [k, v] of Object.entries((r ?? {}) as Record<string, unknown>)) {
      if (typeof v === "number" && /^[\w.-]+$/.test(k)) out[k] = k;
    }
  }
  return out;
}

/**
 * Reads the sweep directory into rows per point and groups over the
 * averaged axes.
 *
 * @example
 * ```ts
 * const g = await gather(sweep);
 * for (const grp of g.groups) console.log(grp.label, grp.stats.top1?.mean);
 * ```
 */
export async function gather(sweep: Sweep): Promise<Gathered> {
  const records = await Promise.all(sweep.points.map((p) => readRecord(sweep.out, p)));
  const reports = await Promise.all(
    sweep.points.map((p, i) =>
      records[i].status === "completed" ? readReport(pointDir(sweep.out, p)) : undefined
    ),
  );
  let metrics = sweep.report.metrics;
  if (Object.keys(metrics).every((k) => k === "seconds")) {
    metrics = { ...topLevelNumbers(reports), ...metrics };
  }
  const missing: Record<string, number> = {};
  const rows: PointRow[] = sweep.points.map((point, i) => {
    const values: Record<string, number | undefined> = {};
    for (const [name, path] of Object.entries(metrics)) {
      const v = reports[i] === undefined ? undefined : readPath(reports[i], path);
      values[name] = typeof v === "number" && Number.isFinite(v) ? v : undefined;
      if (reports[i] !== undefined && values[name] === undefined) {
        missing[name] = (missing[name] ?? 0) + 1;
      }
    }
    return { point, record: records[i], values };
  });
  const groupAxes = sweep.axes.filter((a) => !sweep.report.average_over.includes(a));
  const byKey = new Map<string, PointRow[]>();
  for (const row of rows) {
    const key = axesLabel(row.point.axes, groupAxes) || "all";
    byKey.set(key, [...(byKey.get(key) ?? []), row]);
  }
  const groups: Group[] = [...byKey].map(([label, members]) => {
    const axes = Object.fromEntries(
      groupAxes.filter((a) => Object.hasOwn(members[0].point.axes, a))
        .map((a) => [a, members[0].point.axes[a]]),
    );
    const stats: Record<string, Stat | undefined> = {};
    for (const name of Object.keys(metrics)) {
      const vs = members.map((m) => m.values[name]).filter((v): v is number => v !== undefined);
      stats[name] = vs.length ? stat(vs) : undefined;
    }
    return { axes, label, points: members.length, stats };
  });
  return { sweep, metrics, groupAxes, rows, groups, missing };
}
