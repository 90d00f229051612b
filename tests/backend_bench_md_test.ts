/**
 * bench/bench_md.ts: rows land at the end of their own BENCH.md section and
 * nothing else in the file changes.
 */
import { appendRows, type Table } from "../bench/bench_md.ts";
import { equal } from "./assert.ts";

const table = (rows: string[][]): Table => ({
  section: "Backends",
  intro: "intro",
  header: ["a", "b"],
  rows,
});

Deno.test("appendRows creates the section with a header when it is missing", () => {
  const out = appendRows("# Benchmarks\n\n## Other\n\ntext\n", table([["1", "2"]]));
  equal(
    out,
    "# Benchmarks\n\n## Other\n\ntext\n\n## Backends\n\nintro\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n",
  );
});

Deno.test("appendRows appends after the section's last row, leaving later sections alone", () => {
  const before =
    "# B\n\n## Backends\n\nnotes\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n## Later\n\n| x |\n";
  const out = appendRows(before, table([["3", "4"]]));
  equal(
    out,
    "# B\n\n## Backends\n\nnotes\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n\n## Later\n\n| x |\n",
  );
});
