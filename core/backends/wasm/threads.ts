/**
 * Multi-threaded wasm (XNNPACK on a pthreadpool) under Deno.
 *
 * tfjs-backend-wasm turns threads off whenever it sees Node (`IS_NODE`, true in
 * Deno), and its threaded-SIMD build cannot start there as shipped:
 * 1. Emscripten starts pthread workers through `node:worker_threads`, which in
 *    Deno refuses the `blob:` URL tfjs hands it (ERR_WORKER_PATH);
 * 2. the worker script assigns the read-only `location` / `performance`
 *    globals of a Deno worker, and loads the main script from a Blob with
 *    `importScripts` (there: `fs.readFileSync`), which cannot read a Blob;
 * 3. tfjs sizes its pool at half the logical cores (`os.cpus().length / 2`,
 *    assuming hyper-threads), so a 2-core machine gets 1 thread.
 * This module writes the worker and main scripts to a private temp dir with
 * those three spots fixed, points Emscripten at the files, and reports the
 * real core count while the backend initialises. `SHEARS_WASM_THREADS=0`
 * turns it off; `SHEARS_WASM_THREADS=n` asks for n threads.
 * @module
 */
import { createRequire } from "node:module";
import { tf } from "../../tf.ts";

/** The exact fragments of the 4.22.0 worker script that must change. */
const WORKER_FIXES: [string, string][] = [
  ["location:{href:__filename},", ""],
  [",performance:global.performance||{now:function(){return Date.now()}}", ""],
];
const BLOB_LOAD =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}';

interface WasmModule {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** Threads to ask for: SHEARS_WASM_THREADS, else every core; 1 when unset-able. */
function wantedThreads(): number {
  let env: string | undefined;
  try {
    env = Deno.env.get("SHEARS_WASM_THREADS");
  } catch {
    env = undefined;
  }
  const n = env === undefined ? navigator.hardwareConcurrency ?? 1 : Number(env);
  return Number.isInteger(n) && n > 1 ? Math.min(n, 8) : 1;
}

/** Writes the fixed worker and main scripts; returns the worker's path. */
function writeScripts(): { dir: string; worker: string } {
  const wasmOut = new URL("../wasm-out/", import.meta.resolve("@tensorflow/tfjs-backend-wasm"));
  const require = createRequire(import.meta.url);
  const { wasmWorkerContents } = require(
    new URL("tfjs-backend-wasm-threaded-simd.worker.js", wasmOut).pathname,
  ) as { wasmWorkerContents: string };
  const dir = Deno.makeTempDirSync({ prefix: "shears-wasm-threads-" });
  const main = `${dir}/threaded-simd.cjs`;
  Deno.copyFileSync(new URL("tfjs-backend-wasm-threaded-simd.js", wasmOut), main);
  let worker = wasmWorkerContents.replace(/\n/g, "\\n");
  for (
    const [from, to] of [...WORKER_FIXES, [BLOB_LOAD, `importScripts(${JSON.stringify(main)});`]]
  ) {
    if (!worker.includes(from)) throw new Error("unexpected tfjs-backend-wasm worker script");
    worker = worker.replace(from, to);
  }
  const workerPath = `${dir}/pthread-worker.cjs`;
  Deno.writeTextFileSync(workerPath, worker);
  return { dir, worker: workerPath };
}

/**
 * Initialises the wasm backend on the threaded-SIMD build with `threads`
 * threads. Resolves to the thread count in use, or throws (the caller then
 * falls back to the single-threaded build).
 */
async function initThreaded(wasm: WasmModule, threads: number): Promise<number> {
  const { dir, worker } = writeScripts();
  const os = createRequire(import.meta.url)("os") as { cpus(): unknown[] };
  const realCpus = os.cpus;
  const realObjectUrl = URL.createObjectURL;
  // tfjs halves the core count; report twice the cores while it initialises.
  os.cpus = () => [...realCpus(), ...realCpus()];
  URL.createObjectURL =
    ((obj: Blob) =>
      obj instanceof Blob && obj.type === "application/javascript"
        ? worker
        : realObjectUrl(obj)) as typeof URL.createObjectURL;
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  wasm.setThreadsCount(threads);
  try {
    if (!(await tf.setBackend("wasm"))) throw new Error("threaded wasm failed to initialise");
  } finally {
    os.cpus = realCpus;
    URL.createObjectURL = realObjectUrl;
    // Every pool worker (tfjs pre-starts the 8 it may ever use) has loaded the
    // scripts by now, so the files are no longer needed.
    Deno.removeSync(dir, { recursive: true });
  }
  unrefWorkers();
  return wasm.getThreadsCount();
}

interface PThreads {
  runningWorkers: { unref?(): void }[];
  unusedWorkers: { unref?(): void }[];
}

/**
 * The pool's threads live for the whole process and Emscripten keeps their
 * workers referenced, which would keep Deno from exiting when a script ends.
 */
function unrefWorkers(): void {
  const pthread = (tf.backend() as unknown as { wasm: { PThread?: PThreads } }).wasm.PThread;
  for (const w of [...(pthread?.runningWorkers ?? []), ...(pthread?.unusedWorkers ?? [])]) {
    w.unref?.();
  }
}

/**
 * Selects the wasm backend, multi-threaded where Deno allows it. Returns the
 * number of threads XNNPACK uses (1 = single-threaded build).
 */
export async function setWasmBackend(wasm: WasmModule): Promise<number> {
  const threads = wantedThreads();
  const canShare = typeof SharedArrayBuffer === "function";
  if (threads > 1 && canShare) {
    try {
      return await initThreaded(wasm, threads);
    } catch {
      // Fall back to the single-threaded SIMD build below.
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    }
  }
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  if (!(await tf.setBackend("wasm"))) throw new Error("WebAssembly module failed to initialise");
  return 1;
}
