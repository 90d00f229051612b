/**
 * Smoke test of pipelines/summary.ts as a user runs it (a subprocess with the
 * `run` task's permissions).
 */
import { equal, match } from "../tests/assert.ts";
import { oneLineError } from "../tests/subprocess.ts";
import { runCli } from "./test_harness.ts";

const summary = (args: string[]) => runCli("summary.ts", args);

Deno.test("summary prints LeNet-5's table and totals (counted by hand)", async () => {
  const r = await summary(["--model", "lenet5", "--input_shape", "28,28,1", "--num_classes", "10"]);
  equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  // conv1 5*5*1*6+6, conv2 5*5*6*16+16, fc1 400*120+120, fc2 120*84+84, fc3 84*10+10
  // MACs: 150*28*28 + 2400*10*10 + 48000 + 10080 + 840
  // ReLUs: 28*28*6 + 10*10*16 + 120 + 84
  equal(lines.slice(-3).join("\n"), "params: 61706\nmacs: 416520\nrelus: 6508");
  match(r.stdout, /^conv2\s+Conv2D\s+\[10,10,16\]\s+2416\s+240000\s+0$/m);
});

Deno.test("summary: a bad flag value exits 2 with one line on stderr", async () => {
  const r = await summary(["--model", "lenet5", "--width", "0", "--input_shape", "4"]);
  equal(oneLineError(r), "error: --width must be > 0, got 0");
});
