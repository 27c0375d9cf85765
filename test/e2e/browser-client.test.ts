import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import {
  type Browser,
  buildClientBundle,
  CHROMIUM,
  launchBrowser,
  openClientPage,
  openConnections,
  type PageServer,
  pageState,
  settledConnections,
  startPageServer,
  waitForPage,
} from '../helpers/browser.ts';
import { type ClientProxy, startClientProxy } from '../helpers/client-proxy.ts';
import { skipUnlessAvailable } from '../helpers/requirements.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { startTtlProxy, TTL_PROXY } from '../helpers/ttl-proxy.ts';

const shots = fileURLToPath(new URL('../../.tmp/', import.meta.url));
const skip = await skipUnlessAvailable(CHROMIUM);
const skipProxy = await skipUnlessAvailable(CHROMIUM, TTL_PROXY);

describe('the browser bundle in Chromium', { skip }, () => {
  let browser: Browser;
  let server: RunningPushwire;
  let pages: PageServer;

  before(async () => {
    await buildClientBundle();
    [browser, server, pages] = await Promise.all([
      launchBrowser(),
      startPushwire({ args: ['--cors-origins', '*'] }),
      startPageServer(),
    ]);
  });
  after(async () => {
    await pages?.close();
    await browser?.close();
    await server?.stop();
  });

  for (const transport of ['websocket', 'sse', 'longpoll', 'stream']) {
    test(`${transport}: the page receives every message over the forced transport`, async () => {
      const channel = `browser-${transport}`;
      const page = await openClientPage(browser, pages, {
        channel,
        transports: transport,
        server: server.url,
      });
      try {
        await waitForPage(page, "state.events.includes('subscribed')");
        for (let n = 1; n <= 5; n++) await server.publish(channel, n);
        await waitForPage(page, 'state.messages.length >= 5');
        const state = await pageState(page);
        assert.deepEqual(state.messages, [1, 2, 3, 4, 5]);
        assert.equal(state.transport, transport);
        assert.equal(await page.textContent('#status'), `connected over ${transport}`);
        assert.equal(await page.locator('#log li').count(), 5);
      } finally {
        await page.close();
      }
    });
  }

  test('the classic-script bundle defines a global Pushwire that works the same', async () => {
    const page = await openClientPage(
      browser,
      pages,
      { channel: 'browser-global', server: server.url },
      'global',
    );
    try {
      await waitForPage(page, "state.events.includes('subscribed')");
      await server.publish('browser-global', 'hi');
      await waitForPage(page, 'state.messages.length >= 1');
      assert.deepEqual((await pageState(page)).messages, ['hi']);
    } finally {
      await page.close();
    }
  });

  describe('behind a proxy that refuses WebSocket upgrades', () => {
    let proxy: ClientProxy;
    before(async () => {
      proxy = await startClientProxy(server.port);
      proxy.refuseWebSocket(true);
    });
    after(() => proxy?.close());

    test('the page falls back to SSE by itself and receives', async () => {
      const page = await openClientPage(browser, pages, { channel: 'browser-fallback', server: proxy.url });
      try {
        await waitForPage(page, "state.events.includes('subscribed')");
        await server.publish('browser-fallback', 'via sse');
        await waitForPage(page, 'state.messages.length >= 1');
        const state = await pageState(page);
        assert.equal(state.transport, 'sse');
        assert.deepEqual(state.messages, ['via sse']);
        assert.equal(state.events.filter((e) => e.startsWith('connected')).join(), 'connected:sse');
      } finally {
        await page.close();
      }
    });
  });

  test('three tabs with shared: true make one server connection; closing the leader loses nothing', async () => {
    const channel = 'browser-shared';
    assert.equal(await settledConnections(server.url, 0), 0, 'no connection left over from other tests');
    const query = { channel, shared: '1', server: server.url };
    // The first tab takes the lock, so it is the leader; the others queue behind it.
    const leader = await openClientPage(browser, pages, query);
    await waitForPage(leader, "state.events.includes('subscribed')");
    const followers = [
      await openClientPage(browser, pages, query),
      await openClientPage(browser, pages, query),
    ];
    try {
      for (const page of followers) await waitForPage(page, "state.events.includes('connected:websocket')");
      assert.equal(await openConnections(server.url), 1, 'one connection for three tabs');
      for (let n = 1; n <= 5; n++) await server.publish(channel, n);
      for (const page of [leader, ...followers]) {
        await waitForPage(page, 'state.messages.length >= 5');
        assert.deepEqual((await pageState(page)).messages, [1, 2, 3, 4, 5]);
      }
      await mkdir(shots, { recursive: true });
      const png = await followers[0]!.screenshot({ path: `${shots}browser-shared-tab.png` });
      assert.equal(png.subarray(1, 4).toString(), 'PNG');
      assert.equal(await followers[0]!.textContent('#status'), 'connected over websocket');
      assert.equal(await followers[0]!.locator('#log li').count(), 5);

      // The leader goes away in the middle of a stream of messages.
      for (let n = 6; n <= 40; n++) {
        if (n === 15) await leader.close();
        await server.publish(channel, n);
      }
      const all = Array.from({ length: 40 }, (_, i) => i + 1);
      for (const page of followers) {
        await waitForPage(page, 'state.messages.length >= 40');
        assert.deepEqual((await pageState(page)).messages, all, 'every message once, in order');
      }
      await server.publish(channel, 'last');
      for (const page of followers) await waitForPage(page, "state.messages.at(-1) === 'last'");
      for (const page of followers) assert.equal((await pageState(page)).messages.length, 41);
      // The next leader holds the one connection now; the old one is gone once the server sees it close.
      assert.equal(await settledConnections(server.url, 1), 1, 'still one connection for the two tabs left');
    } finally {
      if (!leader.isClosed()) await leader.close();
      for (const page of followers) await page.close();
    }
  });
});

describe('through the TTL proxy with server heartbeats off', { skip: skipProxy }, () => {
  let browser: Browser;
  let server: RunningPushwire;
  let pages: PageServer;

  before(async () => {
    await buildClientBundle();
    [browser, server, pages] = await Promise.all([
      launchBrowser(),
      startPushwire({ args: ['--heartbeat-interval', 'off', '--cors-origins', '*'] }),
      startPageServer(),
    ]);
  });
  after(async () => {
    await pages?.close();
    await browser?.close();
    await server?.stop();
  });

  for (const transport of ['websocket', 'sse']) {
    test(`${transport}: the proxy cuts the silent connection, the client reconnects and misses nothing`, async () => {
      const proxy = await startTtlProxy(server.port, 1);
      const channel = `ttl-${transport}`;
      const page = await openClientPage(browser, pages, {
        channel,
        transports: transport,
        server: proxy.url,
      });
      try {
        await waitForPage(page, "state.events.includes('subscribed')");
        await server.publish(channel, 'first');
        // Published after the proxy cut the idle connection and before the client is back.
        await waitForPage(page, "state.events.includes('disconnected')");
        await server.publish(channel, 'while cut');
        await waitForPage(page, "state.events.filter((e) => e.startsWith('connected')).length >= 2");
        await server.publish(channel, 'after');
        await waitForPage(page, 'state.messages.length >= 3');
        assert.deepEqual((await pageState(page)).messages, ['first', 'while cut', 'after']);
      } finally {
        await page.close();
        await proxy.stop();
      }
    });
  }
});

/** The client the test page keeps in `window.pushwireClient`. */
interface PageGlobals {
  pushwireClient: { state: string; setToken(token: string): void };
}

describe('refusals in Chromium: the page is told why, and the client waits for a new token', { skip }, () => {
  const secret = 'a-test-secret-that-is-long-enough-for-hs256';
  const sign = (channels: string[]) =>
    new SignJWT({ sub: 'page', channels })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
  let browser: Browser;
  let server: RunningPushwire;
  let pages: PageServer;

  before(async () => {
    await buildClientBundle();
    [browser, server, pages] = await Promise.all([
      launchBrowser(),
      startPushwire({ args: ['--token-secret', secret, '--cors-origins', '*'] }),
      startPageServer(),
    ]);
  });
  after(async () => {
    await pages?.close();
    await browser?.close();
    await server?.stop();
  });

  // Browsers show a script neither the status of a refused WebSocket upgrade nor that of a
  // failed EventSource: the first is read from the error frame and close code, the second
  // from the one fetch the client makes to ask why.
  const cases = [
    { transport: 'websocket', token: async () => '', code: 'unauthorized' },
    { transport: 'sse', token: () => sign(['room:*']), code: 'forbidden' },
  ];
  for (const { transport, token, code } of cases) {
    test(`${transport}: error ${code}, no retries, then setToken lets the page in`, async () => {
      const channel = `refused-${transport}`;
      const page = await openClientPage(browser, pages, {
        channel,
        transports: transport,
        server: server.url,
        token: await token(),
      });
      try {
        await waitForPage(page, 'state.events.includes(arg)', `error:${code}`);
        // Long enough for a client that retries (its first retry comes within 250 ms) to show it.
        await delay(1500);
        assert.equal(
          await page.evaluate(() => (window as unknown as PageGlobals).pushwireClient.state),
          'refused',
        );
        assert.deepEqual(
          (await pageState(page)).events.filter((e) => e === 'reconnecting' || e.startsWith('error')),
          [`error:${code}`],
        );
        const valid = await sign([channel]);
        await page.evaluate((jwt) => (window as unknown as PageGlobals).pushwireClient.setToken(jwt), valid);
        await waitForPage(page, "state.events.includes('subscribed')");
        await server.publish(channel, 'let in');
        await waitForPage(page, 'state.messages.length >= 1');
        assert.deepEqual((await pageState(page)).messages, ['let in']);
      } finally {
        await page.close();
      }
    });
  }
});
