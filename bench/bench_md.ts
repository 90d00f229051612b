/**
 * Appends benchmark rows to one "## <section>" of BENCH.md, leaving every
 * other section as it is. The file is written atomically (temp + rename).
 * @module
 */

/** Rows of a markdown table under a section heading. */
export interface Table {
  section: string;
  /** Text placed under the heading when the section is created. */
  intro: string;
  header: string[];
  rows: string[][];
}

const line = (cells: string[]) => `| ${cells.join(" | ")} |`;

/** Returns `text` with `table.rows` appended to the end of its section (created if absent). */
export function appendRows(text: string, table: Table): string {
  const heading = `## ${table.section}`;
  const rows = table.rows.map(line).join("\n");
  const start = text.split("\n").findIndex((l) => l.trim() === heading);
  if (start < 0) {
    const head = [line(table.header), line(table.header.map(() => "---"))].join("\n");
    const base = text.trim() === "" ? "# Benchmarks\n" : text.replace(/\n*$/, "\n");
    return `${base}\n${heading}\n\n${table.intro}\n\n${head}\n${rows}\n`;
  }
  const lines = text.split("\n");
  let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  if (end < 0) end = lines.length;
  let lastRow = end - 1;
  while (lastRow > start && !lines[lastRow].startsWith("|")) lastRow--;
  const at = lastRow > start ? lastRow + 1 : end;
  lines.splice(at, 0, ...table.rows.map(line));
  return lines.join("\n");
}

/** Appends `table.rows` to `path` (atomic write). */
export async function appendToBenchMd(path: string, table: Table): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, appendRows(text, table));
  await Deno.rename(tmp, path);
}
