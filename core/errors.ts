/**
 * User-facing errors: problems the user can fix (a bad flag, a missing file),
 * printed by `exitOnError` as one line with no stack trace, exit code 2.
 *
 * The convention: an error is user-facing when it is a {@link UsageError}, or
 * when it has `userFacing === true` (set on the class with
 * {@link markUserFacing}, or as an instance property). Class names are not
 * consulted, so a minified bundle behaves the same. Its
 * message must then be one line naming the bad value and what is accepted.
 *
 * @example
 * ```ts
 * class DatasetError extends Error {}
 * markUserFacing(DatasetError);
 * isUserFacing(new DatasetError("no such file: /data/cifar10")); // true
 * ```
 * @module
 */

/** A bad command line, flag value or config file. */
export class UsageError extends Error {
  /** Always true: usage errors are for the user. */
  readonly userFacing = true;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass = abstract new (...args: any[]) => Error;

/**
 * Marks every instance of an error class as user-facing (sets
 * `userFacing = true` on its prototype) and returns the class.
 */
export function markUserFacing<C extends ErrorClass>(cls: C): C {
  Object.defineProperty(cls.prototype, "userFacing", { value: true, configurable: true });
  return cls;
}

/** True for a {@link UsageError} or any Error with `userFacing === true`. */
export function isUserFacing(e: unknown): e is Error {
  if (e instanceof UsageError) return true;
  return e instanceof Error && (e as { userFacing?: unknown }).userFacing === true;
}
