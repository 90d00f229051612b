/**
 * How numbers read in log lines, summaries and tables.
 * @module
 */

/**
 * A fraction as a percentage with two decimals, as top-1 is shown everywhere.
 *
 * @example
 * ```ts
 * pct(0.1234); // "12.34%"
 * ```
 */
export function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}
