/**
 * Headless Chromium for the browser tests, driven over the DevTools protocol
 * (a WebSocket; no driver library): launch it with a fresh profile, open a
 * page, evaluate expressions, take a screenshot, close it.
 * Not a test file itself (no `_test` suffix).
 * @module
 */

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** True when {@link CHROMIUM} exists. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** One page of a running Chromium. */
export interface Browser {
  /** Opens `url` and waits for its load event. */
  open(url: string): Promise<void>;
  /** The value of `expression` in the page (awaited when it is a promise); throws on an exception. */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` every 200 ms until it is truthy; throws after `timeoutMs`. */
  waitFor(expression: string, timeoutMs: number): Promise<void>;
  /** A PNG of the page as it is rendered (the full page height). */
  screenshot(): Promise<Uint8Array>;
  /** Messages the page logged (console and exceptions), for failure reports. */
  readonly console: string[];
  close(): Promise<void>;
}

/**
 * Starts headless Chromium (no sandbox, no GPU, no background network, a fresh
 * user-data-dir) with DevTools on a free 127.0.0.1 port, attached to its page.
 *
 * @example
 * ```ts
 * const browser = await launchChromium();
 * try {
 *   await browser.open("http://127.0.0.1:8000/");
 *   console.log(await browser.evaluate<string>("document.title"));
 * } finally {
 *   await browser.close();
 * }
 * ```
 */
export async function launchChromium(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "shears_chromium_" });
  const proc = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "--window-size=1100,900",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "", endpoint = "";
  while (!endpoint) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`chromium exited before DevTools listened:\n${text}`);
    text += value;
    endpoint = text.match(/DevTools listening on (ws:\/\/\S+)/)?.[1] ?? "";
  }
  (async () => { // keep draining stderr so chromium never blocks on it
    while (!(await lines.read()).done) { /* discard */ }
  })().catch(() => {});
  const port = new URL(endpoint).port;
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    type: string;
    webSocketDebuggerUrl: string;
  }[];
  const socket = new WebSocket(targets.find((t) => t.type === "page")!.webSocketDebuggerUrl);
  await new Promise((ok, fail) => {
    socket.onopen = ok;
    socket.onerror = fail;
  });
  let nextId = 0;
  const pending = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  const waiters = new Map<string, () => void>();
  const consoleLines: string[] = [];
  socket.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id !== undefined) pending.get(m.id)?.(m);
    else if (m.method === "Runtime.consoleAPICalled") {
      consoleLines.push(m.params.args.map((a: { value?: unknown }) => String(a.value)).join(" "));
    } else if (m.method === "Runtime.exceptionThrown") {
      consoleLines.push(`exception: ${m.params.exceptionDetails.exception?.description}`);
    } else waiters.get(m.method)?.();
  };
  const send = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((ok, fail) => {
      const id = ++nextId;
      pending.set(id, (m) => {
        pending.delete(id);
        if (m.error) fail(new Error(`${method}: ${m.error.message}`));
        else ok(m.result as T);
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Page.enable");
  await send("Runtime.enable");
  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await send<{ result: { value: T }; exceptionDetails?: { text: string } }>(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
    );
    if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
    return r.result.value;
  };
  return {
    console: consoleLines,
    async open(url) {
      const loaded = new Promise<void>((ok) => waiters.set("Page.loadEventFired", ok));
      await send("Page.navigate", { url });
      await loaded;
    },
    evaluate,
    async waitFor(expression, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (!(await evaluate<boolean>(`Boolean(${expression})`))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${expression}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async screenshot() {
      const r = await send<{ data: string }>("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
      });
      return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
    },
    async close() {
      socket.close();
      proc.kill();
      await proc.status;
      for (let i = 0; i < 10; i++) { // its helper processes may still be writing the profile
        try {
          return await Deno.remove(profile, { recursive: true });
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
}
