/**
 * ReLUPruner's progressive schedule, as pure functions of the epoch: how much
 * of the ReLU budget to keep, and how often to rebuild the masks.
 *
 * Epochs count from 1. Epochs before `warmup` keep everything and never
 * update masks; from `warmup` the keep ratio falls along an accelerated
 * cosine to the target, reached at the target epoch
 * `floor(warmup + (epochs - warmup) * targetEpochRatio)`, and held after it.
 * Masks update every `interval` global batches from the warmup epoch on,
 * every `2 * interval` from the target epoch on.
 *
 * @example
 * ```ts
 * const s = { epochs: 150, warmup: 5, target: 0.1 };
 * keepRatioAt(1, s); // 1
 * keepRatioAt(targetEpoch(s), s); // 0.1
 * updateIntervalAt(100, s); // 200
 * ```
 * @module
 */

/** A progressive keep-ratio schedule. */
export interface KeepSchedule {
  /** Total training epochs E (>= 1). */
  epochs: number;
  /** Target keep ratio k* in (0, 1]. */
  target: number;
  /** Warmup epochs [5]: keep everything before this epoch. */
  warmup?: number;
  /** Where the target is reached, as a fraction of the epochs after warmup [0.6]. */
  targetEpochRatio?: number;
  /** Global batches between mask updates before the target epoch [100]; doubled after. */
  interval?: number;
}

/** Throws one clear line if the schedule's numbers are out of range. */
export function checkSchedule(s: KeepSchedule): void {
  if (!Number.isInteger(s.epochs) || s.epochs < 1) {
    throw new Error(`epochs must be an integer >= 1, got ${s.epochs}`);
  }
  if (!(s.target > 0 && s.target <= 1)) {
    throw new Error(`target keep ratio must be in (0, 1], got ${s.target}`);
  }
  const warmup = s.warmup ?? 5;
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`warmup must be an integer >= 0, got ${s.warmup}`);
  }
  const r = s.targetEpochRatio ?? 0.6;
  if (!(r >= 0 && r <= 1)) throw new Error(`targetEpochRatio must be in [0, 1], got ${r}`);
  const interval = s.interval ?? 100;
  if (!Number.isInteger(interval) || interval < 1) {
    throw new Error(`update interval must be an integer >= 1, got ${s.interval}`);
  }
}

/** The epoch (from 1) at which the keep ratio reaches its target. */
export function targetEpoch(s: KeepSchedule): number {
  const warmup = s.warmup ?? 5;
  return Math.floor(warmup + (s.epochs - warmup) * (s.targetEpochRatio ?? 0.6));
}

/**
 * The keep ratio during epoch `epoch` (from 1): 1 before warmup; the target
 * from the target epoch on; between, with p = (e - warmup) / (target epoch -
 * warmup) clamped to [0, 1], k* + (1 - k*) * 0.5 * (1 + cos(pi * p^1.5)).
 * At the warmup epoch itself p = 0, so the ratio is still 1.
 */
export function keepRatioAt(epoch: number, s: KeepSchedule): number {
  const warmup = s.warmup ?? 5;
  const tEpoch = targetEpoch(s);
  if (epoch < warmup) return 1;
  if (epoch >= tEpoch) return s.target;
  const p = Math.min(1, Math.max(0, (epoch - warmup) / Math.max(1, tEpoch - warmup)));
  return s.target + (1 - s.target) * 0.5 * (1 + Math.cos(Math.PI * p ** 1.5));
}

/**
 * Global batches between mask updates during epoch `epoch` (from 1): none
 * (Infinity) before warmup, `interval` [100] until the target epoch,
 * `2 * interval` from it on.
 */
export function updateIntervalAt(epoch: number, s: KeepSchedule): number {
  const interval = s.interval ?? 100;
  if (epoch < (s.warmup ?? 5)) return Infinity;
  return epoch >= targetEpoch(s) ? 2 * interval : interval;
}
