/**
 * Optimizer updates in one webgpu dispatch per variable: weight decay,
 * momentum (Nesterov or not) or Adam's moments, and the weight update read
 * and written in place, instead of the 6 (SGD with momentum and decay) to
 * 16 (Adam with decay) elementwise dispatches core/optim.ts's tensor ops cost
 * per variable. Same formulas and operation order as core/optim.ts (PyTorch's
 * semantics), in float32.
 *
 * The kernels write their `w` and state inputs in place, which tfjs kernels
 * never do: callers go through {@link fusedUpdate}, which first gives every
 * written tensor storage of its own (a weight shared with a clone, e.g. a
 * mask's saved original, is copied once) and afterwards drops stale host
 * copies of the written values.
 *
 * @example
 * ```ts
 * const buf = [tf.keep(tf.zerosLike(v))];
 * const state = fusedUpdate(v, grad, buf, { kind: "sgd", lr: 0.1, wd: 5e-4, momentum: 0.9, nesterov: false });
 * ```
 * @module
 */
import { tf } from "../../tf.ts";

/** The kernel names of the fused updates on webgpu. */
export const SGD_UPDATE = "ShearsSgdUpdate";
export const ADAM_UPDATE = "ShearsAdamUpdate";

/** One fused step's hyper-parameters (`lr` already multiplied by the variable's group factor). */
export type FusedUpdate =
  | { kind: "sgd"; lr: number; wd: number; momentum: number; nesterov: boolean }
  | {
    kind: "adam";
    lr: number;
    wd: number;
    beta1: number;
    beta2: number;
    eps: number;
    step: number;
  };

/** A uniform as tfjs-backend-webgpu's recordAndSubmit takes it. */
interface Uniform {
  type: "float32" | "int32";
  data: number[];
}

/** The parts of tfjs-backend-webgpu's backend the fused kernels use. */
interface Backend {
  device: GPUDevice;
  tensorMap: { get(dataId: object): { values: unknown } };
  refCount(dataId: object): number;
  uploadToGPU(dataId: object): void;
  recordAndSubmit(
    program: UpdateProgram,
    output: tf.TensorInfo,
    inputs: tf.TensorInfo[],
    uniforms: Uniform[],
  ): void;
}

const WORKGROUP = 64;

/** A rule: its state buffers (read and written), its own uniforms, and the update of element i. */
interface Rule {
  state: string[];
  params: string[];
  body: string;
}

const RULES: Record<string, Rule> = {
  sgd: { state: [], params: [], body: "w[i] = w[i] - grad * u.lr;" },
  momentum: {
    state: ["m"],
    params: ["momentum", "nesterov"],
    body: `
      let buf = m[i] * u.momentum + grad;
      m[i] = buf;
      var d = buf;
      if (u.nesterov != 0.0) {
        d = grad + buf * u.momentum;
      }
      w[i] = w[i] - d * u.lr;`,
  },
  adam: {
    state: ["m", "v"],
    params: ["beta1", "beta2", "keep1", "keep2", "correction1", "correction2", "eps"],
    body: `
      let mi = m[i] * u.beta1 + grad * u.keep1;
      let vi = v[i] * u.beta2 + grad * grad * u.keep2;
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i] - mi / u.correction1 / (sqrt(vi / u.correction2) + u.eps) * u.lr;`,
  },
};

/**
 * The WGSL of `rule`. Bindings and uniforms follow tfjs-backend-webgpu's
 * recordAndSubmit: the output (w) first, then the inputs (g, then the state),
 * then one uniform block: NaN, Infinity, shape and strides of each input and of
 * the output (all passed flat, so one i32 each), the size, and the rule's own.
 * Each thread strides over the elements, so any size fits one dispatch.
 */
function shader(rule: Rule): string {
  const inputs = ["g", ...rule.state];
  const fields = [
    "nanValue : f32",
    "infValue : f32",
    ...[...inputs, "w"].flatMap((b) => [`${b}Shape : i32`, `${b}Strides : i32`]),
    "size : i32",
    "lr : f32",
    "wd : f32",
    ...rule.params.map((p) => `${p} : f32`),
  ];
  const state = rule.state.map((s, k) =>
    `@group(0) @binding(${k + 2}) var<storage, read_write> ${s} : array<f32>;`
  );
  return `
    struct Uniforms { ${fields.join(", ")} };
    @group(0) @binding(0) var<storage, read_write> w : array<f32>;
    @group(0) @binding(1) var<storage, read> g : array<f32>;
    ${state.join("\n")}
    @group(0) @binding(${inputs.length + 1}) var<uniform> u : Uniforms;
    @compute @workgroup_size(${WORKGROUP})
    fn main(@builtin(global_invocation_id) id : vec3<u32>,
            @builtin(num_workgroups) groups : vec3<u32>) {
      let stride = i32(groups.x) * ${WORKGROUP};
      for (var i = i32(id.x); i < u.size; i = i + stride) {
        var grad = g[i];
        if (u.wd != 0.0) {
          grad = grad + w[i] * u.wd;
        }
        ${rule.body}
      }
    }`;
}

/** Compiled rules per device. */
const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipelineFor(device: GPUDevice, name: string): GPUComputePipeline {
  let byRule = pipelines.get(device);
  if (byRule == null) pipelines.set(device, byRule = new Map());
  let p = byRule.get(name);
  if (p == null) {
    const module = device.createShaderModule({ code: shader(RULES[name]), label: name });
    p = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label: `shears_${name}_update`,
    });
    byRule.set(name, p);
  }
  return p;
}

/** A precompiled program as recordAndSubmit runs it (its name labels dispatch counts and timings). */
class UpdateProgram {
  size = true;
  outputShape: number[];
  dispatch: [number, number, number];
  constructor(readonly pipeline: GPUComputePipeline, n: number, maxGroups: number) {
    this.outputShape = [n];
    this.dispatch = [Math.max(1, Math.min(Math.ceil(n / WORKGROUP), maxGroups)), 1, 1];
  }
}

/** The kernel that runs `rule` with inputs w, g and the rule's state, and `params` from attrs. */
function updateKernel(
  kernelName: string,
  rule: (attrs: tf.NamedAttrMap) => string,
  params: (attrs: tf.NamedAttrMap) => number[],
): tf.KernelConfig {
  return {
    kernelName,
    backendName: "webgpu",
    kernelFunc: ({ inputs, attrs = {}, backend }) => {
      const b = backend as unknown as Backend;
      const name = rule(attrs);
      const byName = inputs as Record<string, tf.TensorInfo>;
      const w = byName.w;
      const written = [w, ...RULES[name].state.map((s) => byName[s])];
      const n = w.shape.reduce((a, d) => a * d, 1);
      for (const t of written) {
        if (b.refCount(t.dataId) !== 1) throw new Error(`${kernelName}: ${t.shape} is shared`);
      }
      if (n === 0) return [];
      const flat = (t: tf.TensorInfo): tf.TensorInfo => {
        b.uploadToGPU(t.dataId);
        return { dataId: t.dataId, shape: [n], dtype: "float32" };
      };
      const program = new UpdateProgram(
        pipelineFor(b.device, name),
        n,
        b.device.limits.maxComputeWorkgroupsPerDimension,
      );
      const uniforms: Uniform[] = [attrs.lr, attrs.wd, ...params(attrs)].map((x) => ({
        type: "float32",
        data: [x as number],
      }));
      b.recordAndSubmit(program, flat(w), [byName.g, ...written.slice(1)].map(flat), uniforms);
      // A value read back earlier is cached on the host: it is stale now.
      for (const t of written) b.tensorMap.get(t.dataId).values = null;
      return [];
    },
  };
}

/** The fused update kernels, registered by registerWebGpuKernels. */
export const optimizerKernels: tf.KernelConfig[] = [
  updateKernel(
    SGD_UPDATE,
    (a) => a.momentum ? "momentum" : "sgd",
    (a) => a.momentum ? [a.momentum as number, a.nesterov ? 1 : 0] : [],
  ),
  updateKernel(ADAM_UPDATE, () => "adam", (a) => {
    const [b1, b2, t] = [a.beta1 as number, a.beta2 as number, a.step as number];
    return [b1, b2, 1 - b1, 1 - b2, 1 - b1 ** t, 1 - b2 ** t, a.eps as number];
  }),
];

/** `t`'s data if no other tensor shares it, else a private copy (and `t`'s handle is disposed). */
function exclusive(t: tf.Tensor): tf.Tensor {
  if (tf.backend().refCount(t.dataId) <= 1) return t;
  const copy = tf.keep(tf.tidy(() => tf.mul(t, 1)));
  t.dispose();
  return copy;
}

/**
 * One fused step of `p` for variable `w` with gradient `g`: `state` (the
 * momentum buffer, or Adam's two moments, as core/optim.ts keeps them; none
 * for plain SGD) and `w` are updated in place. Returns the state to keep:
 * `state`'s tensors, or private copies of those whose data was shared.
 */
export function fusedUpdate(
  w: tf.Variable,
  g: tf.Tensor,
  state: tf.Tensor[],
  p: FusedUpdate,
): tf.Tensor[] {
  if (tf.backend().refCount(w.dataId) > 1) {
    const copy = tf.tidy(() => tf.mul(w, 1));
    w.assign(copy);
    copy.dispose();
  }
  const own = state.map(exclusive);
  const [m, v] = own;
  if (p.kind === "adam") {
    tf.engine().runKernel(ADAM_UPDATE, { w, g, m, v }, { ...p });
  } else {
    tf.engine().runKernel(SGD_UPDATE, m ? { w, g, m } : { w, g }, { ...p });
  }
  return own;
}
