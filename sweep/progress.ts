/**
 * The lines a sweep prints while it runs (on stderr; the closing summary
 * goes to stdout): each point as it starts, is retried, stalls (its queue
 * worker stopped answering) and finishes, numbered against the points the
 * run has to do.
 *
 * @example
 * ```ts
 * const progress = new Progress(4);
 * progress.started(point, "host:123");
 * progress.finished(record); // "[1/4] done seed=0 in 12.3 s (host:123)"
 * ```
 * @module
 */
import type { Point } from "./spec.ts";
import type { PointRecord } from "./store.ts";

/** Prints a sweep's progress; `write` defaults to stderr. */
export class Progress {
  #done = 0;
  #failed = 0;
  constructor(
    readonly total: number,
    readonly write: (line: string) => void = (l) => console.error(l),
  ) {}

  /** Points finished so far (completed or failed for good), and those failed. */
  get counts(): { done: number; failed: number } {
    return { done: this.#done, failed: this.#failed };
  }

  /** A point began an attempt. */
  started(point: Point, where: string, attempt = 1): void {
    this.write(
      `started ${point.label || point.dir} on ${where}${
        attempt > 1 ? ` (attempt ${attempt})` : ""
      }`,
    );
  }

  /** An attempt failed and is tried again after `delayS`. */
  retry(label: string, error: string | undefined, delayS?: number): void {
    this.write(
      `retrying ${label}${delayS !== undefined ? ` in ${delayS} s` : ""}: ${error ?? "failed"}`,
    );
  }

  /** A queue worker stopped answering mid-point; the point went back to the queue. */
  stalled(label: string): void {
    this.write(`${label}: its worker stopped answering; back in the queue`);
  }

  /** A point finished for good. */
  finished(r: PointRecord): void {
    this.#done++;
    const n = `[${this.#done}/${this.total}]`;
    if (r.status === "completed") {
      const tries = (r.attempts ?? 1) > 1 ? `, attempt ${r.attempts}` : "";
      this.write(
        `${n} done ${r.label || r.id} in ${(r.seconds ?? 0).toFixed(1)} s (${r.worker}${tries})`,
      );
    } else {
      this.#failed++;
      this.write(`${n} FAILED ${r.label || r.id}: ${r.error}`);
    }
  }
}
