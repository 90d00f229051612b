/**
 * The load stage warns, when the run exports, about layers the export cannot
 * write (core's unexportableLayers): at the start of a run, not at its end.
 */
import { lastValueFrom, toArray } from "rxjs";
import { load, type RunEvent, tf, unexportableLayers } from "@shears/core";
import { loadDataset } from "@shears/datasets";
import { deepEqual, equal, match } from "./assert.ts";
import { testContext } from "./context.ts";
import { useTestBackend } from "./backend_setup.ts";
import { modelWith, Sine, Unshippable } from "./export_fixtures.ts";

await useTestBackend();

const data = await loadDataset("mnist", { limitTrain: 8, limitTest: 8 });

/** The warning lines of a load stage over `model`, with `--export` set to `exporting`. */
async function loadWarnings(model: tf.LayersModel, exporting: boolean): Promise<string[]> {
  const ctx = testContext({ config: { export: exporting } });
  const events: RunEvent[] = await lastValueFrom(
    load({ data: () => data, model: () => model }).run(ctx).pipe(toArray()),
  );
  return events.flatMap((e) => (e.type === "log" && e.level === "warn" ? [e.message] : []));
}

Deno.test("load warns at once about a layer the export cannot write, only when exporting", async () => {
  const before = tf.memory().numTensors;
  const stuck = modelWith(new Unshippable({ name: "bump" }));
  const shipped = modelWith(new Sine({ name: "wave" }));
  try {
    deepEqual(unexportableLayers(stuck), ["bump (Unshippable)"]);
    deepEqual(unexportableLayers(shipped), []);
    const [line, ...rest] = await loadWarnings(stuck, true);
    match(line, /^export: bump \(Unshippable\) has no standard tfjs form and no shipped module/);
    match(line, /--no-export skips the export\)$/);
    equal(rest.length, 0);
    deepEqual(await loadWarnings(stuck, false), []);
    deepEqual(await loadWarnings(shipped, true), []);
  } finally {
    stuck.dispose();
    shipped.dispose();
  }
  equal(tf.memory().numTensors, before);
});
