/**
 * Counts what the webgpu backend asks of the GPU while a function runs:
 * compute dispatches (per WebGPU program and per top-level tfjs kernel),
 * queue submits and uniform/data uploads. Per-dispatch host cost (encoding,
 * bind groups, uniforms) is the known weak side of tfjs-backend-webgpu, so
 * the dispatch count of a training step is what fusions are judged by, and a
 * test holds it to a budget.
 *
 * @example
 * ```ts
 * const { result, counts } = countDispatches(() => model.predict(x) as tf.Tensor);
 * console.log(counts.dispatches, [...counts.byKernel]);
 * ```
 * @module
 */
import { tf } from "../../tf.ts";

/** What one counted call asked of the GPU. */
export interface DispatchCounts {
  /** Compute dispatches recorded. */
  dispatches: number;
  /** Command buffers submitted to the queue. */
  submits: number;
  /** `queue.writeBuffer` calls (uniforms, and tensor data written from the host). */
  uploads: number;
  /** Dispatches per WebGPU program class, e.g. "BinaryOpProgram". */
  byProgram: Map<string, number>;
  /**
   * Dispatches per tfjs kernel, e.g. "Conv2DBackpropFilter" (the innermost one
   * the engine ran: a fused conv inside a customGrad counts as FusedConv2D).
   */
  byKernel: Map<string, number>;
}

/** The parts of tfjs-backend-webgpu's backend (and engine) that are wrapped while counting. */
interface Hooked {
  recordAndSubmit(program: object, ...rest: unknown[]): void;
  submitQueue(): void;
  queue: GPUQueue;
}
interface EngineHook {
  runKernelFunc(params: { kernelName?: string }): unknown;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/**
 * Runs `fn` on the current backend (which must be webgpu) and returns its
 * result with the counts. Synchronous work only: what `fn` schedules after it
 * returns is not counted.
 */
export function countDispatches<T>(fn: () => T): { result: T; counts: DispatchCounts } {
  if (tf.getBackend() !== "webgpu") throw new Error("countDispatches needs the webgpu backend");
  const backend = tf.backend() as unknown as Hooked;
  const engine = tf.engine() as unknown as EngineHook;
  const counts: DispatchCounts = {
    dispatches: 0,
    submits: 0,
    uploads: 0,
    byProgram: new Map(),
    byKernel: new Map(),
  };
  const kernels: string[] = [];
  const saved = {
    record: backend.recordAndSubmit,
    submit: backend.submitQueue,
    write: backend.queue.writeBuffer,
    run: engine.runKernelFunc,
  };
  backend.recordAndSubmit = function (program, ...rest) {
    counts.dispatches++;
    bump(counts.byProgram, program.constructor.name);
    bump(counts.byKernel, kernels.at(-1) ?? "(outside a kernel)");
    return saved.record.call(this, program, ...rest);
  };
  backend.submitQueue = function () {
    counts.submits++;
    return saved.submit.call(this);
  };
  const queue = backend.queue;
  queue.writeBuffer = function (...args: Parameters<GPUQueue["writeBuffer"]>) {
    counts.uploads++;
    return saved.write.apply(queue, args);
  };
  engine.runKernelFunc = function (params) {
    kernels.push(params.kernelName ?? "customGrad");
    try {
      return saved.run.call(this, params);
    } finally {
      kernels.pop();
    }
  };
  try {
    return { result: fn(), counts };
  } finally {
    // The wrappers are own properties shadowing the prototypes' methods: drop them.
    delete (backend as Partial<Hooked>).recordAndSubmit;
    delete (backend as Partial<Hooked>).submitQueue;
    delete (queue as Partial<GPUQueue>).writeBuffer;
    delete (engine as Partial<EngineHook>).runKernelFunc;
  }
}
