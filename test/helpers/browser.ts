import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Component, component } from './requirements.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

export const CHROMIUM_PATH = process.env.PUSHWIRE_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Debian's Chromium (or the one PUSHWIRE_TEST_CHROMIUM names): playwright-core downloads none. */
export const CHROMIUM: Component = component('Chromium', 'apt-get install -y chromium', async () => {
  try {
    await access(CHROMIUM_PATH, constants.X_OK);
    return null;
  } catch {
    return process.env.PUSHWIRE_TEST_CHROMIUM
      ? `no executable at PUSHWIRE_TEST_CHROMIUM=${CHROMIUM_PATH}`
      : `no executable at ${CHROMIUM_PATH} (or set PUSHWIRE_TEST_CHROMIUM)`;
  }
});
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Builds dist/pushwire.js and dist/pushwire.global.js, the files the server serves. */
export async function buildClientBundle(): Promise<void> {
  await run(process.execPath, ['scripts/build-client.mjs'], { cwd: root });
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Debian's Chromium with a fresh user data dir; every page shares one context (one origin store). */
export async function launchBrowser(): Promise<Browser> {
  const dir = await mkdtemp(join(tmpdir(), 'pushwire-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    args: ARGS,
    headless: true,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The state a test page keeps in `window.pushwireTest` and shows in the DOM. */
export interface PageState {
  messages: unknown[];
  events: string[];
  transport: string | null;
}

/**
 * The page a test opens: it loads the bundle from the Pushwire server named by `server` (the
 * server must allow the page's origin: `--cors-origins`) and subscribes with the options of
 * its query string (`channel`, `transports`, `shared`, `token`, and `tokenUrl`: getToken fetches
 * each token from it as text). Events are recorded by name,
 * `connected:<transport>` and `error:<code>` with what they carry.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Pushwire test page</title>
<style>body{font:14px sans-serif;margin:16px}#status{font-weight:bold}li{font-family:monospace}</style>
</head><body>
<h1>Pushwire</h1>
<p>status: <span id="status">loading</span> · messages: <span id="count">0</span></p>
<ol id="log"></ol>
<script type="module">
  const params = new URLSearchParams(location.search);
  const server = params.get('server');
  let Pushwire = window.Pushwire;
  if (!Pushwire) ({ Pushwire } = await import(server + '/pushwire.js'));
  const state = (window.pushwireTest = { messages: [], events: [], transport: null });
  const render = () => {
    document.getElementById('status').textContent = client.state + (state.transport ? ' over ' + state.transport : '');
    document.getElementById('count').textContent = String(state.messages.length);
  };
  const client = new Pushwire(server, {
    transports: params.get('transports')?.split(','),
    shared: params.has('shared'),
    token: params.get('token') ?? undefined,
    getToken: params.has('tokenUrl')
      ? () => fetch(params.get('tokenUrl')).then((answer) => answer.text())
      : undefined,
    baseDelayMs: 100,
  });
  window.pushwireClient = client;
  for (const type of ['connected', 'subscribed', 'disconnected', 'reconnecting', 'gap', 'error']) {
    client.on(type, (event) => {
      if (type === 'connected') state.transport = event.transport;
      if (type === 'disconnected') state.transport = null;
      state.events.push(
        type === 'connected' ? 'connected:' + event.transport : type === 'error' ? 'error:' + event.code : type,
      );
      render();
    });
  }
  client.subscribe(params.get('channel'), (message) => {
    state.messages.push(message.data);
    const item = document.createElement('li');
    item.textContent = message.channel + ' #' + message.offset + ' ' + JSON.stringify(message.data);
    document.getElementById('log').append(item);
    render();
  });
  render();
</script>
</body></html>`;

export interface PageServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the test page from a loopback origin of its own: a page that didn't come from a
 * local address may not open loopback WebSockets (Chromium's local network access checks).
 * `/global.html?server=...` loads the classic-script bundle that defines a global instead.
 */
export async function startPageServer(): Promise<PageServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://page');
    const bundle = `${url.searchParams.get('server')}/pushwire.global.js`;
    const body =
      url.pathname === '/global.html'
        ? PAGE.replace('<script type="module">', `<script src="${bundle}"></script>\n<script type="module">`)
        : url.pathname === '/index.html'
          ? PAGE
          : null;
    res.writeHead(body ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Opens the test page; `query.server` is the Pushwire server the page loads and connects to. */
export async function openClientPage(
  browser: Browser,
  pages: PageServer,
  query: Record<string, string> & { server: string },
  bundle: 'esm' | 'global' = 'esm',
): Promise<Page> {
  const page = await browser.context.newPage();
  const path = bundle === 'global' ? '/global.html' : '/index.html';
  await page.goto(`${pages.url}${path}?${new URLSearchParams(query)}`);
  return page;
}

export function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => (window as unknown as { pushwireTest: PageState }).pushwireTest);
}

/** Waits until the page's state satisfies `predicate` (evaluated in the page), at most `timeoutMs`. */
export async function waitForPage(
  page: Page,
  predicate: string,
  arg: unknown = null,
  timeoutMs = 15_000,
): Promise<void> {
  await page.waitForFunction(
    ([body, value]) => {
      const state = (window as unknown as { pushwireTest?: PageState }).pushwireTest;
      return state ? new Function('state', 'arg', `return (${body});`)(state, value) : false;
    },
    [predicate, arg] as const,
    { timeout: timeoutMs },
  );
}

/** The sum of `pushwire_connections_open` over transports, from the server's /metrics. */
export async function openConnections(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^pushwire_connections_open\{[^}]*\} (\d+)/gm)) total += Number(match[1]);
  return total;
}

/**
 * Polls /metrics until `pushwire_connections_open` sums to `count` or `timeoutMs` passes, and
 * returns the last sum: a closed tab's connection leaves the gauge once the server sees it go.
 */
export async function settledConnections(url: string, count: number, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let open = await openConnections(url);
  while (open !== count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    open = await openConnections(url);
  }
  return open;
}
