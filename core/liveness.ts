/**
 * Whether another process of this machine still runs, with the permissions a
 * run has (read, write, env): Deno 2 refuses /proc without --allow-all and
 * signals without --allow-run. A process that may leave files behind calls
 * {@link announceAlive} first: it holds an exclusive lock on
 * `<tmp>/shears-alive/<pid>` for as long as it lives, and the kernel drops
 * that lock when it dies, however it dies. {@link isAlive} tries the lock.
 *
 * @example
 * ```ts
 * announceAlive();                       // before writing temp files named by Deno.pid
 * if (!isAlive(pidFromName)) removeOrphan();
 * ```
 * @module
 */

function aliveDir(): string {
  const granted = Deno.permissions.querySync({ name: "env", variable: "TMPDIR" }).state ===
    "granted";
  return `${(granted && Deno.env.get("TMPDIR")) || "/tmp"}/shears-alive`;
}

let held: Deno.FsFile | undefined;

/**
 * Marks this process alive for {@link isAlive} until it exits (idempotent).
 *
 * @example
 * ```ts
 * announceAlive();
 * ```
 */
export function announceAlive(): void {
  if (held) return;
  const dir = aliveDir();
  Deno.mkdirSync(dir, { recursive: true });
  const path = `${dir}/${Deno.pid}`;
  const file = Deno.openSync(path, { create: true, write: true });
  file.lockSync(true);
  held = file;
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(path);
    } catch { /* already gone */ }
  });
}

/**
 * True while process `pid` runs and has announced itself; false for a process
 * that is gone (or never announced, so left nothing to guard).
 *
 * @example
 * ```ts
 * isAlive(Deno.pid); // true
 * ```
 */
export function isAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(`${aliveDir()}/${pid}`, { write: true });
  } catch {
    return false;
  }
  try {
    if (!file.tryLockSync(true)) return true;
    file.unlockSync();
    return false;
  } finally {
    file.close();
  }
}
