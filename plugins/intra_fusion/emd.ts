/**
 * Exact optimal transport (earth mover's distance) between two discrete
 * distributions, by the network simplex method on the complete bipartite
 * graph (the same method as POT's `ot.emd`, which adapts LEMON's network
 * simplex): an artificial root joined to every node gives the first spanning
 * tree, entering arcs are found by block search, leaving arcs by Cunningham's
 * strongly-feasible rule (no cycling under degeneracy), and the tree is kept
 * as parent pointers plus child lists so that potentials of a moved subtree
 * are updated in time proportional to its size.
 *
 * Masses are turned into integers before solving (uniform marginals exactly:
 * n sources of mass k, k targets of mass n; other marginals scaled to 2^40 and
 * rounded), so flows never suffer round-off and degenerate pivots are exact.
 *
 * @example
 * ```ts
 * const cost = Float64Array.from([0, 1, 1, 0]);
 * const { plan, cost: total } = emd([0.5, 0.5], [0.5, 0.5], cost);
 * // plan = [0.5, 0, 0, 0.5], total = 0
 * ```
 * @module
 */

/** An exact transport plan and the dual solution that proves it optimal. */
export interface EmdResult {
  /** Transport plan, n × k row-major; rows sum to `a`, columns to `b`. */
  plan: Float64Array;
  /** Total cost sum_ij plan_ij C_ij. */
  cost: number;
  /** Dual potentials: f_i + g_j <= C_ij, with equality where plan_ij > 0. */
  f: Float64Array;
  g: Float64Array;
  /** Number of simplex pivots taken. */
  pivots: number;
}

/** Options of {@link emd}. */
export interface EmdOptions {
  /** Stop after this many pivots (an error is thrown). Default 100 × (n + k)^2, capped at 1e9. */
  maxPivots?: number;
}

const SCALE = 2 ** 40;

/**
 * Integer masses proportional to `a` and `b`, both summing to the same total.
 * Uniform marginals map to k per source and n per target (exact); otherwise
 * each side is scaled to 2^40 and the rounding residue given to its largest entry.
 */
function integerMasses(a: ArrayLike<number>, b: ArrayLike<number>): [Float64Array, Float64Array] {
  const n = a.length, k = b.length;
  const uniform = (x: ArrayLike<number>) => {
    for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
    return true;
  };
  if (uniform(a) && uniform(b)) {
    return [new Float64Array(n).fill(k), new Float64Array(k).fill(n)];
  }
  const scale = (x: ArrayLike<number>) => {
    let sum = 0, arg = 0;
    for (let i = 0; i < x.length; i++) {
      sum += x[i];
      if (x[i] > x[arg]) arg = i;
    }
    const out = new Float64Array(x.length);
    let total = 0;
    for (let i = 0; i < x.length; i++) total += out[i] = Math.round((x[i] / sum) * SCALE);
    out[arg] += SCALE - total;
    return out;
  };
  return [scale(a), scale(b)];
}

function sum(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s;
}

function checkInputs(a: ArrayLike<number>, b: ArrayLike<number>, cost: ArrayLike<number>) {
  const n = a.length, k = b.length;
  if (n === 0 || k === 0) throw new Error(`emd needs non-empty marginals, got ${n} × ${k}`);
  if (cost.length !== n * k) {
    throw new Error(`emd cost has ${cost.length} entries, expected ${n} × ${k} = ${n * k}`);
  }
  for (const [name, x] of [["a", a], ["b", b]] as const) {
    for (let i = 0; i < x.length; i++) {
      if (!(x[i] >= 0) || !Number.isFinite(x[i])) {
        throw new Error(`emd marginal ${name}[${i}] must be a finite mass >= 0, got ${x[i]}`);
      }
    }
  }
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i])) throw new Error(`emd cost[${i}] is not finite: ${cost[i]}`);
  }
  const sa = sum(a), sb = sum(b);
  if (!(sa > 0) || Math.abs(sa - sb) > 1e-6 * Math.max(sa, sb)) {
    throw new Error(`emd marginals must have the same positive total mass, got ${sa} and ${sb}`);
  }
}

/**
 * Solves min_P sum_ij P_ij C_ij subject to P 1 = a, P^T 1 = b, P >= 0 exactly.
 * `cost` is n × k row-major. `a` and `b` must have the same total (they are
 * normalised to it; the plan is returned in the units of `a`).
 */
export function emd(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  cost: ArrayLike<number>,
  options: EmdOptions = {},
): EmdResult {
  checkInputs(a, b, cost);
  const n = a.length, k = b.length;
  const [supplyA, supplyB] = integerMasses(a, b);
  const solver = new TransportSimplex(n, k, cost, supplyA, supplyB);
  const nodes = n + k;
  const maxPivots = options.maxPivots ?? Math.min(1e9, 100 * nodes * nodes);
  solver.solve(maxPivots);

  const unit = sum(a) / sum(supplyA);
  const plan = new Float64Array(n * k);
  let total = 0;
  for (let u = 0; u < nodes; u++) {
    const e = solver.pred[u];
    if (e < n * k && solver.flow[u] > 0) {
      plan[e] = solver.flow[u] * unit;
      total += plan[e] * cost[e];
    }
  }
  const f = new Float64Array(n), g = new Float64Array(k);
  for (let i = 0; i < n; i++) f[i] = -solver.pi[i];
  for (let j = 0; j < k; j++) g[j] = solver.pi[n + j];
  // Shift so the potentials are small numbers (they are defined up to a constant).
  const shift = g.length ? g[0] : 0;
  for (let i = 0; i < n; i++) f[i] += shift;
  for (let j = 0; j < k; j++) g[j] -= shift;
  return { plan, cost: total, f, g, pivots: solver.pivots };
}

/**
 * Network simplex state for the transportation problem: nodes 0..n-1 are
 * sources, n..n+k-1 targets, n+k the artificial root. Arc e < n·k goes from
 * source floor(e/k) to target n + e%k; arc n·k + u is node u's artificial arc.
 * All arcs are uncapacitated, so a non-tree arc always carries zero flow and
 * a tree arc's flow is stored on the child node it leads to (`flow[u]`).
 */
class TransportSimplex {
  readonly nk: number;
  readonly root: number;
  readonly parent: Int32Array;
  /** The tree arc joining u to its parent. */
  readonly pred: Int32Array;
  /** +1 if pred[u] points from u to its parent, -1 if from the parent to u. */
  readonly predDir: Int8Array;
  readonly flow: Float64Array;
  readonly pi: Float64Array;
  readonly depth: Int32Array;
  readonly firstChild: Int32Array;
  readonly nextSib: Int32Array;
  readonly prevSib: Int32Array;
  /** 1 for arcs in the spanning tree, 0 otherwise (real arcs only). */
  readonly inTree: Uint8Array;
  readonly artCost: Float64Array;
  readonly stack: Int32Array;
  pivots = 0;
  #tol: number;
  #nextArc = 0;
  #block: number;

  constructor(
    readonly n: number,
    readonly k: number,
    readonly cost: ArrayLike<number>,
    supplyA: Float64Array,
    supplyB: Float64Array,
  ) {
    const nodes = n + k;
    this.nk = n * k;
    this.root = nodes;
    const size = nodes + 1;
    this.parent = new Int32Array(size).fill(-1);
    this.pred = new Int32Array(size).fill(-1);
    this.predDir = new Int8Array(size);
    this.flow = new Float64Array(size);
    this.pi = new Float64Array(size);
    this.depth = new Int32Array(size);
    this.firstChild = new Int32Array(size).fill(-1);
    this.nextSib = new Int32Array(size).fill(-1);
    this.prevSib = new Int32Array(size).fill(-1);
    this.inTree = new Uint8Array(this.nk);
    this.artCost = new Float64Array(nodes);
    this.stack = new Int32Array(size);
    let maxCost = 0;
    for (let e = 0; e < this.nk; e++) maxCost = Math.max(maxCost, Math.abs(cost[e]));
    this.#tol = 1e-12 * (maxCost + 1) * nodes;
    this.#block = Math.max(10, Math.ceil(Math.sqrt(this.nk)));
    const artificial = (maxCost + 1) * nodes;
    for (let u = 0; u < nodes; u++) {
      const supply = u < n ? supplyA[u] : -supplyB[u - n];
      this.parent[u] = this.root;
      this.pred[u] = this.nk + u;
      this.depth[u] = 1;
      this.#link(u, this.root);
      if (supply >= 0) {
        this.predDir[u] = 1;
        this.flow[u] = supply;
        this.artCost[u] = 0;
        this.pi[u] = 0;
      } else {
        this.predDir[u] = -1;
        this.flow[u] = -supply;
        this.artCost[u] = artificial;
        this.pi[u] = artificial;
      }
    }
  }

  #link(u: number, p: number): void {
    const first = this.firstChild[p];
    this.nextSib[u] = first;
    this.prevSib[u] = -1;
    if (first >= 0) this.prevSib[first] = u;
    this.firstChild[p] = u;
  }

  #unlink(u: number, p: number): void {
    const prev = this.prevSib[u], next = this.nextSib[u];
    if (prev >= 0) this.nextSib[prev] = next;
    else this.firstChild[p] = next;
    if (next >= 0) this.prevSib[next] = prev;
  }

  #arcCost(e: number): number {
    return e < this.nk ? this.cost[e] : this.artCost[e - this.nk];
  }

  /** Block search: the most negative reduced cost in the first block that has one, or -1. */
  #findEntering(): number {
    const { nk, k, n, cost, pi, inTree } = this;
    let best = -1, bestRc = -this.#tol, count = 0;
    let e = this.#nextArc;
    for (let seen = 0; seen < nk; seen++) {
      if (!inTree[e]) {
        const i = (e / k) | 0;
        const rc = cost[e] + pi[i] - pi[n + e - i * k];
        if (rc < bestRc) {
          bestRc = rc;
          best = e;
        }
      }
      if (++e === nk) e = 0;
      if (++count === this.#block) {
        if (best >= 0) break;
        count = 0;
      }
    }
    this.#nextArc = e;
    return best;
  }

  solve(maxPivots: number): void {
    const { n, k, parent, depth, flow, predDir, pred } = this;
    for (;;) {
      const inArc = this.#findEntering();
      if (inArc < 0) break;
      if (++this.pivots > maxPivots) {
        throw new Error(`emd did not converge in ${maxPivots} pivots (n=${n}, k=${k})`);
      }
      const first = (inArc / k) | 0; // source of the entering arc
      const second = n + inArc - first * k; // its target
      // Join node: the lowest common ancestor of both ends.
      let x = first, y = second;
      while (depth[x] > depth[y]) x = parent[x];
      while (depth[y] > depth[x]) y = parent[y];
      while (x !== y) {
        x = parent[x];
        y = parent[y];
      }
      const join = x;
      // Flow goes first -> second along the entering arc, up from second to
      // join, down from join to first. Leaving arc: the last blocking arc in
      // that orientation (strict on the first side, non-strict on the second).
      let delta = Infinity, uOut = -1, side = 0;
      for (let u = first; u !== join; u = parent[u]) {
        if (predDir[u] === 1 && flow[u] < delta) {
          delta = flow[u];
          uOut = u;
          side = 1;
        }
      }
      for (let u = second; u !== join; u = parent[u]) {
        if (predDir[u] === -1 && flow[u] <= delta) {
          delta = flow[u];
          uOut = u;
          side = 2;
        }
      }
      if (uOut < 0) throw new Error("emd: unbounded cycle (internal error)");
      if (delta > 0) {
        for (let u = first; u !== join; u = parent[u]) flow[u] -= predDir[u] * delta;
        for (let u = second; u !== join; u = parent[u]) flow[u] += predDir[u] * delta;
      }
      const uIn = side === 1 ? first : second;
      const vIn = side === 1 ? second : first;
      const leaving = pred[uOut];
      if (leaving < this.nk) this.inTree[leaving] = 0;
      this.inTree[inArc] = 1;
      this.#reroot(uIn, vIn, uOut, inArc, uIn === first ? 1 : -1, delta);
    }
  }

  /**
   * Cuts the subtree of uOut, re-roots it at uIn (reversing the path uIn..uOut)
   * and hangs it below vIn through the entering arc; then shifts its potentials
   * so the entering arc has zero reduced cost and recomputes its depths.
   */
  #reroot(uIn: number, vIn: number, uOut: number, inArc: number, dir: number, f: number): void {
    const { parent, pred, predDir, flow } = this;
    let w = uIn, newParent = vIn, newPred = inArc, newDir = dir, newFlow = f;
    for (;;) {
      const oldParent = parent[w], oldPred = pred[w], oldDir = predDir[w], oldFlow = flow[w];
      this.#unlink(w, oldParent);
      parent[w] = newParent;
      pred[w] = newPred;
      predDir[w] = newDir;
      flow[w] = newFlow;
      this.#link(w, newParent);
      if (w === uOut) break;
      newParent = w;
      newPred = oldPred;
      newDir = -oldDir;
      newFlow = oldFlow;
      w = oldParent;
    }
    // Reduced cost of the entering arc; uIn is its source when dir = +1.
    const i = (inArc / this.k) | 0;
    const t = this.n + inArc - i * this.k;
    const rc = this.#arcCost(inArc) + this.pi[i] - this.pi[t];
    const sigma = dir === 1 ? -rc : rc;
    const { stack, pi, depth, firstChild, nextSib } = this;
    let top = 0;
    stack[top++] = uIn;
    while (top > 0) {
      const u = stack[--top];
      pi[u] += sigma;
      depth[u] = depth[parent[u]] + 1;
      for (let c = firstChild[u]; c >= 0; c = nextSib[c]) stack[top++] = c;
    }
  }
}
