/**
 * Entropy-regularised optimal transport by Sinkhorn iterations, in the log
 * domain (stable for small `reg`): the plan is
 * P_ij = exp((f_i + g_j - C_ij) / reg), with f, g alternately fitted to the
 * marginals. `reg` has the meaning of POT's `ot.sinkhorn(a, b, M, reg)`.
 * Approximate and dense (every P_ij > 0); {@link emd} is the exact solver.
 *
 * @example
 * ```ts
 * const { plan } = sinkhorn([0.5, 0.5], [0.5, 0.5], Float64Array.from([0, 1, 1, 0]), { reg: 0.05 });
 * // plan ≈ [0.5, 0, 0, 0.5]
 * ```
 * @module
 */

/** Options of {@link sinkhorn}. */
export interface SinkhornOptions {
  /** Entropic regularisation strength (in cost units). Default 0.05. */
  reg?: number;
  /** Most iterations (one iteration updates f then g). Default 10000. */
  maxIter?: number;
  /** Stop when the L1 error of the row marginals falls below this. Default 1e-9. */
  tol?: number;
}

/** A Sinkhorn plan and how it got there. */
export interface SinkhornResult {
  /** Transport plan, n × k row-major. */
  plan: Float64Array;
  /** sum_ij plan_ij C_ij (transport cost, without the entropy term). */
  cost: number;
  iterations: number;
  /** L1 error of the row marginals at the end. */
  error: number;
}

/** Approximates the optimal transport plan between `a` and `b` for the n × k `cost`. */
export function sinkhorn(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  cost: ArrayLike<number>,
  options: SinkhornOptions = {},
): SinkhornResult {
  const { reg = 0.05, maxIter = 10000, tol = 1e-9 } = options;
  const n = a.length, k = b.length;
  if (cost.length !== n * k) {
    throw new Error(`sinkhorn cost has ${cost.length} entries, expected ${n} × ${k}`);
  }
  if (!(reg > 0)) throw new Error(`sinkhorn reg must be > 0, got ${reg}`);
  const logA = Float64Array.from(a, Math.log), logB = Float64Array.from(b, Math.log);
  const f = new Float64Array(n), g = new Float64Array(k);
  const tmp = new Float64Array(Math.max(n, k));
  const rowFit = () => {
    for (let i = 0; i < n; i++) {
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, tmp[j] = (g[j] - cost[i * k + j]) / reg);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(tmp[j] - m);
      f[i] = reg * (logA[i] - m - Math.log(s));
    }
  };
  const colFit = () => {
    for (let j = 0; j < k; j++) {
      let m = -Infinity;
      for (let i = 0; i < n; i++) m = Math.max(m, tmp[i] = (f[i] - cost[i * k + j]) / reg);
      let s = 0;
      for (let i = 0; i < n; i++) s += Math.exp(tmp[i] - m);
      g[j] = reg * (logB[j] - m - Math.log(s));
    }
  };
  const plan = new Float64Array(n * k);
  const fill = () => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) plan[i * k + j] = Math.exp((f[i] + g[j] - cost[i * k + j]) / reg);
    }
  };
  const rowError = () => {
    let err = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += plan[i * k + j];
      err += Math.abs(s - a[i]);
    }
    return err;
  };
  let iterations = 0, error = Infinity;
  while (iterations < maxIter) {
    rowFit();
    colFit();
    iterations++;
    if (iterations % 10 === 0 || iterations === maxIter) {
      fill();
      error = rowError();
      if (error < tol) break;
    }
  }
  fill();
  error = rowError();
  let total = 0;
  for (let e = 0; e < n * k; e++) total += plan[e] * cost[e];
  return { plan, cost: total, iterations, error };
}
