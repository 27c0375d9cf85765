import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SignJWT } from 'jose';
import {
  type Browser,
  buildClientBundle,
  CHROMIUM,
  launchBrowser,
  openClientPage,
  type PageServer,
  pageState,
  startPageServer,
  waitForPage,
} from '../helpers/browser.ts';
import { type RequestCounter, startRequestCounter } from '../helpers/request-counter.ts';
import { skipUnlessAvailable } from '../helpers/requirements.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const skip = await skipUnlessAvailable(CHROMIUM);
const SECRET = 'a-browser-token-test-secret-long-enough-for-hs256';
const TOKEN_SECONDS = 5;
const RUN_MS = 15_000;

/** The path each transport holds its one connection on. */
const CONNECTION_PATH = { websocket: '/ws', sse: '/sse', stream: '/stream', longpoll: '/poll' } as const;

/**
 * The application's token endpoint: `GET /token?channel=a&channel=b` answers a 5 s HS256
 * token for those channels, as text, to any origin; it counts what it minted.
 */
async function startTokenEndpoint(): Promise<{ url: string; minted: () => number; close(): Promise<void> }> {
  let minted = 0;
  const server: Server = createServer(async (req, res) => {
    const channels = new URL(req.url ?? '/', 'http://x').searchParams.getAll('channel');
    const token = await new SignJWT({ sub: 'browser-user', channels })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + TOKEN_SECONDS)
      .sign(new TextEncoder().encode(SECRET));
    minted++;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*' });
    res.end(token);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    minted: () => minted,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the browser bundle with getToken and 5 s tokens, in Chromium', { skip }, () => {
  let browser: Browser;
  let server: RunningPushwire;
  let pages: PageServer;
  let tokens: Awaited<ReturnType<typeof startTokenEndpoint>>;

  before(async () => {
    await buildClientBundle();
    [browser, server, pages, tokens] = await Promise.all([
      launchBrowser(),
      // A little clock skew lets a refresh on a loaded machine land late; a page that never
      // refreshed still loses its connection well within the run.
      startPushwire({ args: ['--cors-origins', '*', '--token-secret', SECRET, '--token-clock-skew', '3s'] }),
      startPageServer(),
      startTokenEndpoint(),
    ]);
  });
  after(async () => {
    await tokens?.close();
    await pages?.close();
    await browser?.close();
    await server?.stop();
  });

  test('two tabs with shared: true: the leader refreshes the one connection for both, then the next leader does', async (t) => {
    const counter: RequestCounter = await startRequestCounter(server.port);
    t.after(() => counter.close());
    const channel = 'browser-tokens-shared';
    const query = { channel, shared: '1', server: counter.url, tokenUrl: `${tokens.url}?channel=${channel}` };
    const leader = await openClientPage(browser, pages, query);
    let follower: Awaited<ReturnType<typeof openClientPage>> | null = null;
    try {
      await waitForPage(leader, "state.events.includes('subscribed')", null, 30_000);
      follower = await openClientPage(browser, pages, query);
      await waitForPage(follower, "state.events.includes('connected:websocket')", null, 30_000);
      const refreshesAtStart = await tokenRefreshes(server.url);
      let sent = 0;
      let refreshesAtHandOff = 0;
      // Past one token's life with the leader, then past another with the follower leading.
      for (const phase of ['leader', 'follower'] as const) {
        const until = Date.now() + (TOKEN_SECONDS + 5) * 1000;
        while (Date.now() < until && sent < 300) {
          await server.publish(channel, ++sent);
          await delay(100);
        }
        if (phase === 'leader') {
          assert.equal(counter.count('/ws'), 1, 'one connection for both tabs');
          refreshesAtHandOff = await tokenRefreshes(server.url);
          assert.ok(refreshesAtHandOff > refreshesAtStart, 'the leader refreshed in place');
          await leader.close();
        }
      }
      await waitForPage(follower, 'state.messages.length >= arg', sent, 60_000);
      assert.deepEqual(
        (await pageState(follower)).messages,
        Array.from({ length: sent }, (_, i) => i + 1),
        'every message once, in order, across both leaders',
      );
      const events = (await pageState(follower)).events;
      assert.ok(!events.some((event) => event.startsWith('error:')), events.join());
      // Its own connection outlived a token: the new leader refreshed it.
      assert.ok((await tokenRefreshes(server.url)) > refreshesAtHandOff, 'the new leader refreshed in place');
      assert.equal(counter.count('/ws'), 2, 'the follower opened one connection when it took over');
    } finally {
      if (!leader.isClosed()) await leader.close();
      await follower?.close();
    }
  });

  for (const transport of ['websocket', 'sse', 'stream', 'longpoll'] as const) {
    test(`${transport}: ${RUN_MS / 1000} s of messages arrive once each, in order, with no reconnect`, async (t) => {
      const counter: RequestCounter = await startRequestCounter(server.port);
      t.after(() => counter.close());
      const channels = ['a', 'b', 'c'].map((name) => `browser-tokens-${transport}-${name}`);
      const tokenUrl = `${tokens.url}?${new URLSearchParams(channels.map((channel) => ['channel', channel]))}`;
      const mintedBefore = tokens.minted();
      const page = await openClientPage(browser, pages, {
        channel: channels[0]!,
        transports: transport,
        server: counter.url,
        tokenUrl,
      });
      try {
        await waitForPage(page, "state.events.includes('subscribed')", null, 30_000);
        const until = Date.now() + RUN_MS;
        let sent = 0;
        while (Date.now() < until && sent < 300) {
          await server.publish(channels[0]!, ++sent);
          await delay(100);
        }
        await waitForPage(page, 'state.messages.length >= arg', sent, 60_000);
        const state = await pageState(page);
        assert.deepEqual(
          state.messages,
          Array.from({ length: sent }, (_, i) => i + 1),
        );
        assert.deepEqual(
          state.events.filter((event) => event !== 'subscribed'),
          [`connected:${transport}`],
        );
        const minted = tokens.minted() - mintedBefore;
        assert.ok(minted >= 1 + Math.floor(RUN_MS / 1000 / TOKEN_SECONDS), `tokens minted: ${minted}`);
        if (transport === 'longpoll') return;
        assert.equal(counter.count(CONNECTION_PATH[transport]), 1, 'one connection for the whole run');
        if (transport === 'websocket') return;

        // The second and third channel join the same connection.
        await page.evaluate((added) => {
          const scope = window as unknown as {
            pushwireClient: { subscribe(channel: string, handler: (m: { data: unknown }) => void): void };
            pushwireTest: { messages: unknown[] };
          };
          for (const channel of added) {
            scope.pushwireClient.subscribe(channel, (message) =>
              scope.pushwireTest.messages.push(message.data),
            );
          }
        }, channels.slice(1));
        await waitForPage(
          page,
          "state.events.filter((event) => event === 'subscribed').length >= 3",
          null,
          30_000,
        );
        for (const channel of channels.slice(1)) await server.publish(channel, channel);
        await waitForPage(page, 'state.messages.length >= arg', sent + 2, 30_000);
        assert.deepEqual((await pageState(page)).messages.slice(sent), channels.slice(1));
        assert.equal(counter.count(CONNECTION_PATH[transport]), 1, 'still one connection');
        const subscribes = counter.requests.filter((r) => r.path === '/subscribe' && r.method === 'POST');
        assert.equal(subscribes.length, 2);
      } finally {
        await page.close();
      }
    });
  }
});

/** `pushwire_token_refreshes_total{result="ok"}` from the server's /metrics. */
async function tokenRefreshes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^pushwire_token_refreshes_total\{result="ok"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}
