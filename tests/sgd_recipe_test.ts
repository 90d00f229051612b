/**
 * pipelines/common.ts sgdRecipe: each training flag lands in its field of
 * the recipe (a swapped lr / momentum / weight decay would train otherwise).
 */
import { sgdRecipe } from "../pipelines/common.ts";
import { deepEqual } from "./assert.ts";

Deno.test("sgdRecipe maps --batch_size, --lr, --momentum, --weight_decay, --seed", () => {
  const f = { batch_size: 32, lr: 0.1, momentum: 0.8, weight_decay: 1e-4, seed: 7, epochs: 9 };
  deepEqual(sgdRecipe(f, { kind: "cosine" }), {
    batchSize: 32,
    optimizer: { kind: "sgd", lr: 0.1, momentum: 0.8, weightDecay: 1e-4 },
    schedule: { kind: "cosine" },
    seed: 7,
  });
});
