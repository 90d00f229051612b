/**
 * The one error type dataset loaders throw for problems a user can fix
 * (missing or malformed files, unknown names).
 * @module
 */

/**
 * A user-facing dataset problem: its message is one clear line naming the bad
 * path or value and what is expected. Pipelines print it and exit 2.
 *
 * @example
 * ```ts
 * try { await loadDataset("cifar10", { dataDir: "/nope" }); }
 * catch (e) { if (e instanceof DatasetError) console.error(e.message); }
 * ```
 */
export class DatasetError extends Error {
  /** Marks it for `exitOnError`: printed as one line, exit 2. */
  readonly userFacing = true;
  /** @param message one line: what is wrong, with what path, and what is accepted. */
  constructor(message: string) {
    super(message);
    this.name = "DatasetError";
  }
}
