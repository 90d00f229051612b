/**
 * Process liveness under the test task's permissions (no --allow-all, so no
 * /proc): a process that announced itself is alive until it is killed.
 */
import { announceAlive, isAlive } from "@shears/core";
import { equal } from "./assert.ts";

Deno.test("isAlive: true for a live announced process, false once it is killed -9", async () => {
  const script = `import { announceAlive } from "${
    new URL("../core/liveness.ts", import.meta.url).href
  }"; announceAlive(); console.log("ready"); await new Promise((r) => setTimeout(r, 60_000));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  equal(first.trim(), "ready");
  equal(isAlive(child.pid), true);
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  equal(isAlive(child.pid), false);
});

Deno.test("isAlive: this process, and a pid that never announced", () => {
  announceAlive();
  equal(isAlive(Deno.pid), true);
  equal(isAlive(2 ** 22 + 7), false);
});
