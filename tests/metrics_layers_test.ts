/**
 * countMacs on the layer kinds beyond Conv2D and Dense, against hand counts
 * (the rules in core/metrics.ts): 1-D, 3-D, separable and transposed convs,
 * Dense on a sequence, Embedding, and recurrent layers per time step.
 * @module
 */
import { countMacs, countParams, tf } from "@shears/core";
import { equal } from "./assert.ts";
import { useTestBackend } from "./backend_setup.ts";

await useTestBackend();

type ST = tf.SymbolicTensor;
const on = (layer: tf.layers.Layer, x: ST) => layer.apply(x) as ST;

/** MACs of the model made of `layer` on an input of `shape`. */
function macsOf(shape: number[], layer: tf.layers.Layer): number {
  const input = tf.input({ shape });
  const m = tf.model({ inputs: input, outputs: on(layer, input) });
  try {
    return countMacs(m);
  } finally {
    m.dispose();
  }
}

Deno.test("countMacs: convolutions of every rank, separable and transposed", () => {
  const L = tf.layers;
  // Conv1D over 10 steps, "valid": 8 output steps x k3 x cin 4 x cout 6
  equal(macsOf([10, 4], L.conv1d({ filters: 6, kernelSize: 3 })), 8 * 3 * 4 * 6);
  // Conv3D 4x4x4 "same" stride 2: 2x2x2 outputs x 3^3 x 2 x 5
  equal(
    macsOf([4, 4, 4, 2], L.conv3d({ filters: 5, kernelSize: 3, strides: 2, padding: "same" })),
    8 * 27 * 2 * 5,
  );
  // SeparableConv2D 6x6, "same": depthwise 36 x 9 x 4, pointwise 36 x 4 x 7
  equal(
    macsOf([6, 6, 4], L.separableConv2d({ filters: 7, kernelSize: 3, padding: "same" })),
    36 * 9 * 4 + 36 * 4 * 7,
  );
  // Conv3DTranspose: every input position (2x2x2) times the kernel 2^3 x cout 3 x cin 2
  equal(
    macsOf([2, 2, 2, 2], L.conv3dTranspose({ filters: 3, kernelSize: 2, strides: 2 })),
    8 * 8 * 3 * 2,
  );
});

Deno.test("countMacs: Dense on a sequence, Embedding, recurrent layers once per step", async () => {
  const L = tf.layers;
  equal(macsOf([5, 4], L.dense({ units: 3 })), 5 * 4 * 3);
  equal(macsOf([7], L.embedding({ inputDim: 50, outputDim: 8 })), 0);
  // LSTM: kernel 4 x 4u and recurrent kernel u x 4u, once per each of 9 steps
  const u = 3;
  equal(macsOf([9, 4], L.lstm({ units: u })), 9 * (4 * 4 * u + u * 4 * u));
  equal(macsOf([9, 4], L.gru({ units: u, returnSequences: true })), 9 * (4 * 3 * u + u * 3 * u));
  // Bidirectional SimpleRNN: both directions
  equal(
    macsOf([9, 4], L.bidirectional({ layer: L.simpleRNN({ units: u }) as never })),
    2 * 9 * (4 * u + u * u),
  );
  // Recurrent and wrapped layers' weights live in their cells and inner layers: still parameters.
  const input = tf.input({ shape: [9, 4] });
  const lstm = on(L.lstm({ units: u, returnSequences: true }), input);
  const bi = on(L.bidirectional({ layer: L.gru({ units: u }) as never }), lstm);
  const td = on(
    L.timeDistributed({ layer: L.dense({ units: 2 }) }),
    on(L.repeatVector({ n: 3 }), bi),
  );
  const m = tf.model({ inputs: input, outputs: td });
  const gru = 3 * u * (u + u + 1); // kernel (u LSTM features in), recurrent kernel, bias
  equal((await countParams(m)).total, 4 * u * (4 + u + 1) + 2 * gru + (2 * u * 2 + 2));
  equal((await countParams(m)).total, m.countParams());
  m.dispose();
});
