/**
 * `deno task serve DIR`: serves the export page (web/index.html) on
 * 127.0.0.1, with every exported model under DIR (any folder holding a
 * model.json, e.g. runs/) and the TensorFlow.js browser bundles from the
 * npm packages in node_modules. Open the printed address and pick a model
 * and the unpruned one to compare with; `?model=a/export&base=b/export`
 * picks them in the URL.
 *
 * Routes: `/` the page, `/vendor/*` tfjs and its wasm backend, `/models/*`
 * files under DIR, `/api/models` the model folders under DIR (JSON). Pages
 * are cross-origin isolated (COOP/COEP), so tfjs-wasm may use threads.
 *
 * @example
 * ```sh
 * deno task serve runs              # http://127.0.0.1:8000/
 * deno task serve runs --port 0     # any free port (printed)
 * ```
 * @module
 */
import { exitOnError, type FlagDefs, parseFlags, UsageError } from "@shears/core";

/** Flags of the server (DIR comes first, before them). */
export const serveFlags = {
  port: { type: "int", default: 8000, min: 0, max: 65535, help: "port on 127.0.0.1 (0: any free)" },
} satisfies FlagDefs;

const root = new URL("..", import.meta.url);
const vendor: Record<string, string> = {
  "tf.min.js": "node_modules/@tensorflow/tfjs/dist/tf.min.js",
  "tf-backend-wasm.min.js":
    "node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
};
for (const f of ["", "-simd", "-threaded-simd"]) {
  vendor[`tfjs-backend-wasm${f}.wasm`] =
    `node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm${f}.wasm`;
}
const pages: Record<string, string> = { "/": "web/index.html", "/app.js": "web/app.js" };

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  svg: "image/svg+xml",
  md: "text/markdown; charset=utf-8",
};

const HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

async function file(path: string): Promise<Response> {
  try {
    const body = await Deno.readFile(path);
    const type = TYPES[path.split(".").pop()!] ?? "application/octet-stream";
    return new Response(body, { headers: { ...HEADERS, "Content-Type": type } });
  } catch {
    return new Response("not found\n", { status: 404, headers: HEADERS });
  }
}

/** Folders under `dir` (relative, '/'-separated, sorted) that hold a model.json.  *
 * @example
 * ```ts
 * await modelFolders("runs"); // ["pruned/export", "teacher/export", ...]
 * ```
 */
export async function modelFolders(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    if (e.name.startsWith(".")) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isFile && e.name === "model.json") found.push(prefix);
    else if (e.isDirectory) found.push(...await modelFolders(dir, rel));
  }
  return found.sort();
}

/** The request handler for models under `dir`.  *
 * @example
 * ```ts
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, handler("runs"));
 * ```
 */
export function handler(dir: string): (req: Request) => Promise<Response> {
  return async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (pages[path]) return file(new URL(pages[path], root).pathname);
    if (path.startsWith("/vendor/") && vendor[path.slice(8)]) {
      return file(new URL(vendor[path.slice(8)], root).pathname);
    }
    if (path === "/api/models") {
      return Response.json(await modelFolders(dir), { headers: HEADERS });
    }
    const rel = path.slice("/models/".length);
    if (path.startsWith("/models/") && !rel.split("/").some((p) => p === ".." || p === "")) {
      return file(`${dir}/${rel}`);
    }
    return new Response("not found\n", { status: 404, headers: HEADERS });
  };
}

/** Starts the server (see the module doc); resolves when it stops.  *
 * @example
 * ```ts
 * await main(["runs", "--port", "0"]);
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const [dir, ...rest] = args;
  const usage = "usage: deno task serve DIR [--port N]";
  if (dir === "--help") return console.log(`${usage}\n\nServes the export page on 127.0.0.1.`);
  if (!dir || dir.startsWith("-")) {
    throw new UsageError(`a directory of exported models is required (${usage})`);
  }
  const f = parseFlags(serveFlags, rest, {
    name: "serve DIR",
    description: "Serve the export page.",
  });
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch {
    throw new UsageError(`${dir}: no such directory`);
  }
  if (!stat.isDirectory) throw new UsageError(`${dir} is not a directory`);
  const bundle = new URL(vendor["tf.min.js"], root).pathname;
  try {
    await Deno.stat(bundle);
  } catch {
    throw new UsageError(`${bundle} is missing: run \`deno install\` once first`);
  }
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: f.port,
      onListen: ({ port }) => console.log(`serving ${dir} at http://127.0.0.1:${port}/`),
    }, handler(dir));
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`port ${f.port} on 127.0.0.1 is in use; pass --port N (0: any free)`);
    }
    throw e;
  }
  await server.finished;
}

if (import.meta.main) exitOnError(() => main(Deno.args));
