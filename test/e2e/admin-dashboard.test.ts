import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { ADMIN_KEY, openSocket, openTextStream, type TextStream } from '../helpers/admin.ts';
import { type Browser, buildClientBundle, CHROMIUM, launchBrowser } from '../helpers/browser.ts';
import { skipUnlessAvailable } from '../helpers/requirements.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const shots = fileURLToPath(new URL('../../.tmp/', import.meta.url));
const skip = await skipUnlessAvailable(CHROMIUM);

/** Waits until the element's text is `expected`; fails naming what it showed last. */
async function shows(page: Page, selector: string, expected: string, timeoutMs = 30_000): Promise<void> {
  try {
    await page.waitForFunction(
      ([sel, text]) => document.querySelector(sel!)?.textContent?.trim() === text,
      [selector, expected] as const,
      { timeout: timeoutMs },
    );
  } catch {
    const shown = await page.textContent(selector);
    assert.fail(`${selector} shows ${JSON.stringify(shown)}, not ${JSON.stringify(expected)}`);
  }
}

describe('the dashboard in Chromium', { skip, timeout: 240_000 }, () => {
  let browser: Browser;
  let server: RunningPushwire;
  let page: Page;
  const streams: TextStream[] = [];
  const sockets: Array<{ close(): void }> = [];

  before(async () => {
    await buildClientBundle();
    [browser, server] = await Promise.all([
      launchBrowser(),
      startPushwire({ args: ['--admin-key', ADMIN_KEY, '--heartbeat-interval', '1s'] }),
    ]);
    page = await browser.context.newPage();
    await page.setViewportSize({ width: 1280, height: 800 });
  });
  after(async () => {
    for (const stream of streams) stream.close();
    for (const socket of sockets) socket.close();
    await browser?.close();
    await server?.stop();
  });

  test('a wrong key is refused; the admin key signs in and the feed goes live over SSE', async () => {
    await page.goto(`${server.url}/admin`);
    await page.fill('#key', 'not-the-admin-key-at-all');
    await page.click('#login button[type=submit]');
    await shows(page, '#login-error', 'That is not the admin key.');
    await page.fill('#key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await shows(page, '#status', 'live over sse');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('pushwire.adminKey')), ADMIN_KEY);
    assert.ok(!page.url().includes(ADMIN_KEY), 'the key is never in a URL');
    // The page's own feed is the one connection so far.
    await shows(page, '#stat-nodes', '1');
    await shows(page, '#stat-connections', '1');
  });

  test('the numbers follow what clients and publishers do', async () => {
    const socket = await openSocket(server.url, 'dash:room', undefined);
    for (const path of ['sse', 'stream']) {
      const stream = await openTextStream(`${server.url}/${path}?channel=dash:room`);
      streams.push(stream);
      await stream.until('connected');
    }
    await shows(page, '#stat-connections', '4');
    for (let n = 1; n <= 12; n++) await server.publish('dash:room', { n });
    await shows(page, '#stat-published', '12');
    // The channel table: the page's own feed and the room with its three subscribers.
    await page.waitForSelector('#channels tbody tr[data-channel="dash:room"]');
    await shows(page, '#channels tr[data-channel="dash:room"] td:nth-child(2)', '3');
    await page.click('#channels tr[data-channel="dash:room"]');
    await page.waitForFunction(() => document.querySelectorAll('#detail-history li').length === 10);
    assert.match((await page.textContent('#detail-history li'))!, /#12 .* \{"n":12\}/);
    assert.match((await page.textContent('#detail-presence'))!, /presence is off/);

    // Disconnect the WebSocket client from the connection table.
    const row = `#connections tr[data-client-id="${socket.clientId}"]`;
    await page.waitForSelector(row);
    assert.equal(await page.locator('#connections tbody tr').count(), 4);
    await page.click(`${row} button`);
    assert.equal(await socket.closed, 4503);
    await shows(page, '#stat-connections', '3');
    await page.waitForSelector(row, { state: 'detached' });
    assert.equal(await page.locator('#connections tbody tr').count(), 3);
  });

  test('a screenshot with live traffic, for the README', async () => {
    // A few seconds of paced, bounded traffic so that every chart has something to show.
    for (let i = 0; i < 8; i++) {
      sockets.push(await openSocket(server.url, `dash:lobby-${i % 3}`, undefined));
    }
    for (let round = 0; round < 24; round++) {
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          server.publish(`dash:lobby-${i % 3}`, { round, i, text: 'hello' }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await shows(page, '#stat-connections', '11');
    await page.click('#channels tr[data-channel="dash:room"]');
    await page.evaluate(() => window.scrollTo(0, 0));
    await mkdir(shots, { recursive: true });
    await page.screenshot({ path: `${shots}admin-dashboard.png` });
  });
});
