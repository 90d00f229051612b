import { allClose, equal, ok, throws } from "./assert.ts";
import { Rng } from "@shears/core";
import { emd, sinkhorn } from "@shears/intra_fusion";

function randomCost(rng: Rng, n: number, k: number, integer = false): Float64Array {
  return Float64Array.from(
    { length: n * k },
    () => integer ? Math.floor(rng.next() * 5) : rng.next(),
  );
}

function randomMasses(rng: Rng, n: number, total: number): number[] {
  // Positive integer masses summing to `total` (total >= n).
  const m = new Array(n).fill(1);
  for (let r = n; r < total; r++) m[Math.floor(rng.next() * n)]++;
  return m;
}

/**
 * Brute force: the optimum of a transportation problem is attained at a
 * vertex, i.e. a spanning tree of the bipartite graph (n + k - 1 arcs) whose
 * unique flow is non-negative. Enumerate every such subset of arcs.
 */
function bruteForce(a: number[], b: number[], cost: Float64Array): number {
  const n = a.length, k = b.length, m = n + k - 1;
  let best = Infinity;
  const chosen: number[] = [];
  const visit = (start: number) => {
    if (chosen.length === m) {
      const flow = treeFlow(a, b, chosen);
      if (flow) best = Math.min(best, chosen.reduce((s, e, t) => s + flow[t] * cost[e], 0));
      return;
    }
    for (let e = start; e <= n * k - (m - chosen.length); e++) {
      chosen.push(e);
      visit(e + 1);
      chosen.pop();
    }
  };
  visit(0);
  return best;
}

/** Flows on the arcs of a spanning tree meeting the marginals, or null (not a tree / negative). */
function treeFlow(a: number[], b: number[], arcs: number[]): number[] | null {
  const n = a.length, k = b.length;
  const rest = [...a, ...b];
  const flow = new Array(arcs.length).fill(NaN);
  const open = new Set(arcs.map((_, t) => t));
  while (open.size) {
    // Find a node (leaf) touched by exactly one open arc.
    const touch = new Map<number, number[]>();
    for (const t of open) {
      const i = Math.floor(arcs[t] / k), j = n + (arcs[t] % k);
      for (const v of [i, j]) touch.set(v, [...(touch.get(v) ?? []), t]);
    }
    const leaf = [...touch.entries()].find(([, ts]) => ts.length === 1);
    if (!leaf) return null; // a cycle
    const [v, [t]] = leaf;
    const i = Math.floor(arcs[t] / k), j = n + (arcs[t] % k);
    const other = v === i ? j : i;
    flow[t] = rest[v];
    rest[other] -= rest[v];
    rest[v] = 0;
    open.delete(t);
  }
  if (rest.some((r) => Math.abs(r) > 1e-9) || flow.some((x) => x < -1e-9)) return null;
  return flow;
}

function checkPlan(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  cost: ArrayLike<number>,
  res: ReturnType<typeof emd>,
  tol = 1e-9,
) {
  const n = a.length, k = b.length;
  const rows = new Array(n).fill(0), cols = new Array(k).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const p = res.plan[i * k + j];
      ok(p >= 0, `plan[${i},${j}] = ${p} < 0`);
      rows[i] += p;
      cols[j] += p;
      // Dual feasibility and complementary slackness prove optimality.
      const slack = cost[i * k + j] - res.f[i] - res.g[j];
      ok(slack >= -tol, `dual infeasible at (${i},${j}): slack ${slack}`);
      if (p > 0) ok(Math.abs(slack) <= tol, `slack ${slack} on a used arc (${i},${j})`);
    }
  }
  allClose(rows, Array.from(a), { rtol: 1e-9, atol: 1e-12 }, "row sums");
  allClose(cols, Array.from(b), { rtol: 1e-9, atol: 1e-12 }, "column sums");
  let dual = 0;
  for (let i = 0; i < n; i++) dual += a[i] * res.f[i];
  for (let j = 0; j < k; j++) dual += b[j] * res.g[j];
  allClose([dual], [res.cost], { rtol: 1e-9, atol: 1e-9 }, "dual objective");
}

Deno.test("emd equals brute force over all vertices on random small problems", () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 40; trial++) {
    const n = 1 + Math.floor(rng.next() * 4), k = 1 + Math.floor(rng.next() * 4);
    const total = Math.max(n, k) + Math.floor(rng.next() * 6);
    const a = randomMasses(rng, n, total), b = randomMasses(rng, k, total);
    // Integer costs make ties (degenerate problems) common.
    const cost = randomCost(rng, n, k, trial % 2 === 0);
    const res = emd(a, b, cost);
    checkPlan(a, b, cost, res);
    allClose([res.cost], [bruteForce(a, b, cost)], { rtol: 1e-9, atol: 1e-9 }, `trial ${trial}`);
  }
});

Deno.test("emd with uniform marginals n = k is the best permutation / n", () => {
  const rng = new Rng(3);
  const permutations = (xs: number[]): number[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, i) => permutations(xs.filter((_, j) => j !== i)).map((p) => [x, ...p]));
  for (const n of [2, 4, 6]) {
    const cost = randomCost(rng, n, n);
    const best = Math.min(
      ...permutations([...Array(n).keys()]).map((p) =>
        p.reduce((s, j, i) => s + cost[i * n + j], 0)
      ),
    );
    const u = new Array(n).fill(1 / n);
    const res = emd(u, u, cost);
    checkPlan(u, u, cost, res);
    allClose([res.cost], [best / n], { rtol: 1e-12 }, `n=${n}`);
  }
});

Deno.test("emd matches the closed form of 1-D Wasserstein-1 (uniform, 300 × 120)", () => {
  const rng = new Rng(11);
  const n = 300, k = 120;
  const x = Array.from({ length: n }, () => rng.next() * 4);
  const y = Array.from({ length: k }, () => rng.next() * 4 + 0.5);
  const cost = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) cost[i * k + j] = Math.abs(x[i] - y[j]);
  // W1 = integral of |F_x - F_y| over the line.
  const pts = [...x.map((v) => [v, 1 / n]), ...y.map((v) => [v, -1 / k])].sort((p, q) =>
    p[0] - q[0]
  );
  let w1 = 0, cdf = 0;
  for (let t = 0; t + 1 < pts.length; t++) {
    cdf += pts[t][1];
    w1 += Math.abs(cdf) * (pts[t + 1][0] - pts[t][0]);
  }
  const a = new Array(n).fill(1 / n), b = new Array(k).fill(1 / k);
  const res = emd(a, b, cost);
  checkPlan(a, b, cost, res);
  allClose([res.cost], [w1], { rtol: 1e-9 }, "W1");
});

Deno.test("emd solves a 1200 × 600 uniform problem exactly within seconds", () => {
  const rng = new Rng(5);
  const n = 1200, k = 600, d = 8;
  const feats = (m: number) =>
    Array.from({ length: m }, () => Array.from({ length: d }, () => rng.next()));
  const xs = feats(n), ys = feats(k);
  const cost = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += Math.abs(xs[i][t] - ys[j][t]);
      cost[i * k + j] = s;
    }
  }
  const a = new Array(n).fill(1 / n), b = new Array(k).fill(1 / k);
  const t0 = performance.now();
  const res = emd(a, b, cost);
  const ms = performance.now() - t0;
  checkPlan(a, b, cost, res, 1e-8);
  ok(ms < 20000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("emd handles non-uniform real-valued marginals and zero masses", () => {
  const rng = new Rng(13);
  const a = [0.2, 0, 0.5, 0.3], b = [0.25, 0.25, 0.5];
  const cost = randomCost(rng, 4, 3);
  const res = emd(a, b, cost);
  checkPlan(a, b, cost, res, 1e-9);
  const scaled = [2, 0, 5, 3].map((v) => v * 4), scaledB = [10, 10, 20];
  allClose([res.cost], [bruteForce(scaled, scaledB, cost) / 40], { rtol: 1e-9 }, "cost");
});

Deno.test("emd rejects bad input with one clear line", () => {
  throws(() => emd([1], [1, 1], new Float64Array(2)), /same positive total mass/);
  throws(() => emd([1, 1], [2], new Float64Array(3)), /expected 2 × 1/);
  throws(() => emd([1, -1], [0], new Float64Array(2)), /a\[1\]/);
});

Deno.test("sinkhorn respects marginals and approaches the exact cost as reg shrinks", () => {
  const rng = new Rng(17);
  const n = 12, k = 5;
  const cost = randomCost(rng, n, k);
  const a = new Array(n).fill(1 / n), b = new Array(k).fill(1 / k);
  const exact = emd(a, b, cost).cost;
  let gap = Infinity;
  for (const reg of [0.1, 0.01, 0.002]) {
    const res = sinkhorn(a, b, cost, { reg, tol: 1e-10, maxIter: 50000 });
    ok(res.error < 1e-9, `row error ${res.error}`);
    const cols = new Array(k).fill(0);
    for (let e = 0; e < n * k; e++) cols[e % k] += res.plan[e];
    allClose(cols, b, { atol: 1e-9 }, "columns");
    ok(res.cost >= exact - 1e-9, `sinkhorn cost ${res.cost} below the optimum ${exact}`);
    ok(res.cost - exact < gap, `gap did not shrink at reg ${reg}`);
    gap = res.cost - exact;
  }
  ok(gap < 0.01 * exact, `gap ${gap} too large`);
  equal(sinkhorn(a, b, cost).plan.length, n * k);
});
