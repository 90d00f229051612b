/**
 * The Intra-Fusion transport map between a group's n neurons (sources) and
 * the k it keeps (targets), as the reference's `OptimalTransport` builds it:
 * each neuron's feature (its out-rows and the next layers' in-columns,
 * flattened) is L2-normalised, the cost is the L1 distance from every neuron
 * to every kept one, the marginals are uniform (or importance-weighted), the
 * plan G (n × k) is solved exactly ({@link emd}) or with {@link sinkhorn},
 * and T = G^T (k × n) is normalised so that each source neuron's column sums
 * to 1.
 *
 * @example
 * ```ts
 * const t = transportMap(features, [0, 2]); // features: n rows of length d
 * // t.map: k × n row-major, columns sum to 1
 * ```
 * @module
 */
import { emd } from "./emd.ts";
import { sinkhorn } from "./sinkhorn.ts";

/** Options of {@link transportMap}. */
export interface TransportOptions {
  /** "emd" (exact, the reference) or "sinkhorn". Default "emd". */
  solver?: "emd" | "sinkhorn";
  /** Sinkhorn regularisation (cost units; the cost is L1 between unit vectors). Default 0.05. */
  reg?: number;
  /** "uniform" (the reference's default) or "importance" (mass ∝ importance). Default "uniform". */
  marginals?: "uniform" | "importance";
  /** One non-negative importance per neuron; needed for importance marginals. */
  importance?: ArrayLike<number>;
}

/** A transport map and what it cost. */
export interface TransportMap {
  /** k × n row-major; T[t, s] is the share of neuron s that goes to kept neuron t. */
  map: Float64Array;
  k: number;
  n: number;
  /** Optimal transport cost of the plan. */
  cost: number;
}

/** Neuron features as rows: `rows[i]` is neuron i's feature (all rows of one length). */
export type Features = { data: Float32Array | Float64Array; n: number; d: number };

/** Cost matrix n × k: L1 distance between L2-normalised features of all neurons and the kept ones. */
export function fusionCost(features: Features, keep: readonly number[]): Float64Array {
  const { data, n, d } = features;
  const inv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += data[i * d + t] ** 2;
    inv[i] = s > 0 ? 1 / Math.sqrt(s) : 0;
  }
  const k = keep.length;
  const cost = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const oi = i * d, si = inv[i];
    for (let j = 0; j < k; j++) {
      const c = keep[j], oc = c * d, sc = inv[c];
      let s = 0;
      for (let t = 0; t < d; t++) s += Math.abs(data[oi + t] * si - data[oc + t] * sc);
      cost[i * k + j] = s;
    }
  }
  return cost;
}

function marginal(kind: "uniform" | "importance", m: number, imp?: (i: number) => number) {
  if (kind === "uniform") return new Float64Array(m).fill(1 / m);
  const p = Float64Array.from({ length: m }, (_, i) => Math.max(0, imp!(i)));
  const s = p.reduce((a, b) => a + b, 0);
  if (!(s > 0)) return new Float64Array(m).fill(1 / m);
  return p.map((v) => v / s);
}

/** The transport map from all n neurons to the kept ones; see the module doc. */
export function transportMap(
  features: Features,
  keep: readonly number[],
  options: TransportOptions = {},
): TransportMap {
  const { n } = features, k = keep.length;
  const kind = options.marginals ?? "uniform";
  if (kind !== "uniform" && kind !== "importance") {
    throw new Error(`marginals must be "uniform" or "importance", got "${kind}"`);
  }
  const imp = options.importance;
  if (kind === "importance" && (!imp || imp.length !== n)) {
    throw new Error(`importance marginals need ${n} importances, got ${imp?.length ?? "none"}`);
  }
  const cost = fusionCost(features, keep);
  const a = marginal(kind, n, (i) => imp![i]);
  const b = marginal(kind, k, (j) => imp![keep[j]]);
  const solver = options.solver ?? "emd";
  const res = solver === "emd"
    ? emd(a, b, cost)
    : solver === "sinkhorn"
    ? sinkhorn(a, b, cost, { reg: options.reg ?? 0.05 })
    : undefined;
  if (!res) throw new Error(`solver must be "emd" or "sinkhorn", got "${solver}"`);
  const map = new Float64Array(k * n);
  for (let s = 0; s < n; s++) {
    let col = 0;
    for (let t = 0; t < k; t++) col += res.plan[s * k + t];
    // A source with no mass (zero importance) goes wholly to its nearest kept neuron.
    if (!(col > 0)) {
      let best = 0;
      for (let t = 1; t < k; t++) if (cost[s * k + t] < cost[s * k + best]) best = t;
      map[best * n + s] = 1;
      continue;
    }
    for (let t = 0; t < k; t++) map[t * n + s] = res.plan[s * k + t] / col;
  }
  return { map, k, n, cost: res.cost };
}

/**
 * The map that merges by averaging: each row of T scaled to sum to 1, so a
 * kept neuron becomes the weighted mean of the neurons sent to it (instead of
 * their sum, which is what T itself gives).
 */
export function averagingMap(t: TransportMap): Float64Array {
  const { map, k, n } = t;
  const out = new Float64Array(map.length);
  for (let r = 0; r < k; r++) {
    let s = 0;
    for (let c = 0; c < n; c++) s += map[r * n + c];
    for (let c = 0; c < n; c++) out[r * n + c] = s > 0 ? map[r * n + c] / s : 0;
  }
  return out;
}
