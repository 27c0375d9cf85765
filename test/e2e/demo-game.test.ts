import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { type Browser, buildClientBundle, CHROMIUM, launchBrowser } from '../helpers/browser.ts';
import { skipUnlessAvailable } from '../helpers/requirements.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { startTtlProxy, TTL_PROXY, type TtlProxy } from '../helpers/ttl-proxy.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
// PUSHWIRE_DEMO_SCREENSHOT=docs/demo.png refreshes the screenshot in the docs.
const screenshot = resolve(root, process.env.PUSHWIRE_DEMO_SCREENSHOT ?? '.tmp/demo.png');
const skip = await skipUnlessAvailable(CHROMIUM);
const skipProxy = await skipUnlessAvailable(TTL_PROXY);
/**
 * A liveness bound, not a speed test: a move or chat line not seen by then is lost. How long
 * arrivals took (the demo means about a second at most) is reported as a test diagnostic.
 */
const ARRIVES_WITHIN_MS = 5000;
const arrivals: number[] = [];
/** The TTL proxy cuts any connection idle this long; the pages must outlive it on heartbeats. */
const PROXY_IDLE_S = 3;

/** The state the demo page keeps in `window.__demo`. */
interface DemoState {
  id: string;
  name: string;
  transport: string | null;
  state: string;
  error: string | null;
  latencyMs: number | null;
  heartbeats: number;
  heartbeatIntervalMs: number | null | undefined;
  players: Record<string, { name: string; x: number; y: number; score: number; hue: number | null }>;
  item: { k: number; x: number; y: number };
  chat: { name: string; text: string }[];
  log: string[];
}

const demoState = (page: Page) => page.evaluate(() => (window as unknown as { __demo: DemoState }).__demo);

/** Waits until `predicate(state, arg)` holds in the page (the predicate runs in the page). */
async function until<A>(
  page: Page,
  predicate: (state: DemoState, arg: A) => boolean,
  arg: A,
  timeoutMs: number,
) {
  await page.waitForFunction(
    ([body, value]) => {
      const state = (window as unknown as { __demo?: DemoState }).__demo;
      return state ? (new Function(`return (${body})`)() as typeof predicate)(state, value as A) : false;
    },
    [predicate.toString(), arg] as const,
    // Polled on a timer: a page in the background gets no animation frames to poll on.
    { timeout: timeoutMs, polling: 25 },
  );
}

/** Waits until every page satisfies `predicate`; records how long after `since` each did. */
async function seenEverywhere<A>(
  pages: readonly Page[],
  predicate: (state: DemoState, arg: A) => boolean,
  arg: A,
  since: number,
): Promise<void> {
  await Promise.all(
    pages.map(async (page) => {
      await until(page, predicate, arg, ARRIVES_WITHIN_MS);
      arrivals.push(Date.now() - since);
    }),
  );
}

/** Holds the arrow key toward `target` on one axis until the player is within half a cell. */
async function steer(page: Page, axis: 'x' | 'y', target: number): Promise<void> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const { id, players } = await demoState(page);
    const at = players[id]![axis];
    if (Math.abs(at - target) < 0.5) return;
    const forward = target > at;
    const key = axis === 'x' ? (forward ? 'ArrowRight' : 'ArrowLeft') : forward ? 'ArrowDown' : 'ArrowUp';
    await page.keyboard.down(key);
    try {
      await until(
        page,
        (s, [a, t, f]) => {
          const now = s.players[s.id]![a as 'x' | 'y'];
          return Math.abs(now - (t as number)) < 0.5 || (f ? now > (t as number) : now < (t as number));
        },
        [axis, target, forward] as const,
        5000,
      );
    } finally {
      await page.keyboard.up(key);
    }
  }
  assert.fail(`could not steer ${axis} to ${target}`);
}

describe('the demo game in Chromium: three players on three transports', { skip }, () => {
  let browser: Browser;
  let server: RunningPushwire;
  let proxy: TtlProxy | null = null;
  const pages: Page[] = [];
  const players = [
    { name: 'ada', transport: 'websocket' },
    { name: 'grace', transport: 'sse' },
    { name: 'linus', transport: 'longpoll' },
  ];

  before(async () => {
    await buildClientBundle();
    [browser, server] = await Promise.all([
      launchBrowser(),
      // Heartbeats and held polls well inside the proxy's idle timeout.
      startPushwire({ args: ['--demo', '--heartbeat-interval', '1s', '--poll-timeout', '2s'] }),
    ]);
    if (!skipProxy) proxy = await startTtlProxy(server.port, PROXY_IDLE_S);
    // The page comes from the proxy (or the server) itself: same origin for the page and its pushes.
    const base = proxy?.url ?? server.url;
    for (const { name, transport } of players) {
      const page = await browser.context.newPage();
      await page.setViewportSize({ width: 1280, height: 800 });
      // announce=30: no re-announcements during the test, so silence is real silence.
      await page.goto(`${base}/?name=${name}&transport=${transport}&announce=30`);
      pages.push(page);
      await until(page, (s, t) => s.transport === t, transport, 15_000);
    }
  });
  after(async () => {
    await browser?.close();
    await proxy?.stop();
    await server?.stop();
  });

  test('everyone sees every other player arrive, move and chat', async (t) => {
    for (const page of pages) await until(page, (s) => Object.keys(s.players).length === 3, null, 5000);
    for (const [i, page] of pages.entries()) {
      await page.bringToFront();
      const { id, players: board } = await demoState(page);
      const { x } = board[id]!;
      await steer(page, 'x', x > 12 ? x - 2 : x + 2);
      const me = (await demoState(page)).players[id]!;
      await seenEverywhere(
        pages.filter((p) => p !== page),
        (s, [pid, mx, my]) => s.players[pid as string]?.x === mx && s.players[pid as string]?.y === my,
        [id, me.x, me.y] as const,
        Date.now(),
      );
      const text = `hello from ${players[i]!.name} over ${players[i]!.transport}`;
      await page.fill('#chat input', text);
      const sent = Date.now();
      await page.press('#chat input', 'Enter');
      await seenEverywhere(pages, (s, line) => s.chat.some((c) => c.text === line), text, sent);
    }
    t.diagnostic(`moves and chat lines reached every page within ${Math.max(...arrivals)} ms`);
    const states = await Promise.all(pages.map(demoState));
    for (const state of states) {
      assert.deepEqual(
        state.chat.map((c) => c.name),
        ['ada', 'grace', 'linus'],
        'chat lines in one order on every page',
      );
      assert.notEqual(state.latencyMs, null, `${state.name} timed its own moves`);
      const transport = players.find((p) => p.name === state.name)!.transport;
      assert.equal(state.transport, transport);
      assert.equal(state.state, 'connected');
    }
    const positions = (s: DemoState) =>
      Object.entries(s.players)
        .map(([id, p]) => `${id}@${p.x},${p.y}`)
        .sort();
    for (const state of states.slice(1)) assert.deepEqual(positions(state), positions(states[0]!));
  });

  test('the first to reach the star scores, on every scoreboard alike', async () => {
    const page = pages[0]!;
    await page.bringToFront();
    const before = await demoState(page);
    const item = before.item;
    const score = before.players[before.id]!.score;
    await steer(page, 'x', item.x);
    await steer(page, 'y', item.y);
    for (const other of pages) {
      await until(
        other,
        (s, [pid, k, n]) => s.item.k > (k as number) && s.players[pid as string]?.score === n,
        [before.id, item.k, score + 1] as const,
        5000,
      );
    }
    const states = await Promise.all(pages.map(demoState));
    const scores = (s: DemoState) => Object.values(s.players).map((p) => `${p.name}:${p.score}`);
    for (const state of states) {
      assert.deepEqual(scores(state).sort(), scores(states[0]!).sort());
      assert.deepEqual(state.item, states[0]!.item, 'the same next star everywhere');
    }

    // What the page shows: three avatars where the state says, the scoreboard, the chat.
    for (const state of states) {
      const shown = pages[states.indexOf(state)]!;
      assert.equal(await shown.locator('.avatar').count(), 3);
      for (const [id, p] of Object.entries(state.players)) {
        const avatar = shown.locator(`.avatar[data-id="${id}"]`);
        assert.deepEqual(
          [await avatar.getAttribute('data-x'), await avatar.getAttribute('data-y')],
          [String(p.x), String(p.y)],
        );
      }
      const board = await shown.locator('#scores li').allTextContents();
      assert.equal(board.length, 3);
      assert.ok(board.includes(`ada${score + 1}`), `ada leads with ${score + 1}: ${board}`);
      assert.equal(await shown.locator('#chat-log li').count(), 3);
    }
    await shoot(page);
  });

  test('switching the transport recreates the client, which resumes from its cursor', async () => {
    const [ada, , linus] = pages as [Page, Page, Page];
    await linus.selectOption('#transport', 'stream');
    await until(linus, (s) => s.transport === 'stream' && s.state === 'connected', null, 10_000);
    assert.match((await demoState(linus)).log.at(-1)!, /connected over stream, resumed after #\d+$/);
    await ada.fill('#chat input', 'still there?');
    await ada.press('#chat input', 'Enter');
    await until(linus, (s) => s.chat.at(-1)?.text === 'still there?', null, ARRIVES_WITHIN_MS);
    assert.equal(new URL(linus.url()).searchParams.get('transport'), 'stream', 'a reload keeps the choice');
  });

  test('through the TTL proxy the pages stay live through 10 s of silence', {
    skip: skipProxy,
  }, async (t) => {
    const before = await Promise.all(pages.map(demoState));
    const quietUntil = Date.now() + 10_000;
    // Nobody moves or talks: only heartbeats cross the proxy, which cuts anything idle for 3 s.
    for (const [i, page] of pages.entries()) {
      await until(
        page,
        (s, [end, beats]) => Date.now() >= (end as number) && s.heartbeats >= (beats as number),
        [quietUntil, before[i]!.heartbeats + 4] as const,
        20_000,
      );
    }
    const after = await Promise.all(pages.map(demoState));
    for (const [i, state] of after.entries()) {
      const since = state.log.slice(before[i]!.log.length);
      assert.deepEqual(since, [], `${state.name}: no disconnect or reconnect during the silence`);
      assert.equal(state.state, before[i]!.state);
    }
    // And then a move still reaches everyone.
    const mover = pages[1]!;
    await mover.bringToFront();
    const { id, players: board } = await demoState(mover);
    await steer(mover, 'y', board[id]!.y > 7 ? board[id]!.y - 2 : board[id]!.y + 2);
    const me = (await demoState(mover)).players[id]!;
    arrivals.length = 0;
    await seenEverywhere(
      pages,
      (s, [pid, mx, my]) => s.players[pid as string]?.x === mx && s.players[pid as string]?.y === my,
      [id, me.x, me.y] as const,
      Date.now(),
    );
    t.diagnostic(`after the silence the move reached every page within ${Math.max(...arrivals)} ms`);
    // The picture for the docs: a page on SSE that has seen heartbeats, moves and chat.
    await shoot(mover);
  });
});

async function shoot(page: Page): Promise<void> {
  await mkdir(dirname(screenshot), { recursive: true });
  const png = await page.screenshot({ path: screenshot, fullPage: true });
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
}

describe('the demo in Chromium at default settings: names, errors, history, colours, layout', {
  skip,
}, () => {
  let browser: Browser;
  let server: RunningPushwire;
  const errors: string[] = [];

  before(async () => {
    await buildClientBundle();
    [browser, server] = await Promise.all([launchBrowser(), startPushwire({ args: ['--demo'] })]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function open(query: string): Promise<Page> {
    const page = await browser.context.newPage();
    page.on('pageerror', (error) => errors.push(`${query}: ${error.message}`));
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${server.url}/?${query}`);
    return page;
  }

  test('?transport= takes every transport name and alias, and connects over it', async () => {
    const names = {
      websocket: 'websocket',
      ws: 'websocket',
      sse: 'sse',
      longpoll: 'longpoll',
      poll: 'longpoll',
      stream: 'stream',
    };
    for (const [asked, transport] of Object.entries(names)) {
      const page = await open(`transport=${asked}&room=names`);
      try {
        await until(page, (s, t) => s.transport === t && s.state === 'connected', transport, 15_000);
        assert.equal(await page.inputValue('#transport'), transport, `${asked}: the selector shows it`);
        // At the default 15 s, a busy connection never needs a ping: the page says what keeps it open.
        await until(page, (s) => s.heartbeatIntervalMs === 15_000, null, 10_000);
        assert.equal(await page.textContent('#interval'), '15 s');
        assert.match(String(await page.textContent('#keepalive')), /traffic \d+ s ago/);
      } finally {
        await page.close();
      }
    }
    assert.deepEqual(errors, []);
  });

  test('an unknown transport shows an error, never a blank selector or "connecting" forever', async () => {
    const page = await open('transport=carrier-pigeon');
    try {
      await until(page, (s) => s.state === 'error', null, 10_000);
      const state = await demoState(page);
      assert.match(
        state.error!,
        /unknown transport "carrier-pigeon": use websocket, sse, longpoll, stream, or ws/,
      );
      assert.equal(state.transport, null);
      assert.equal(await page.getAttribute('#state', 'class'), 'error');
      assert.equal(await page.locator('#transport option:checked').textContent(), 'unknown: carrier-pigeon');
      // Picking a transport from there works.
      await page.selectOption('#transport', 'sse');
      await until(page, (s) => s.transport === 'sse' && s.state === 'connected', null, 15_000);
    } finally {
      await page.close();
    }
    assert.deepEqual(errors, []);
  });

  test('a late joiner sees the chat sent before it came, and a colour far from the others', async () => {
    const first = await open('name=early&room=history&transport=sse');
    const pages = [first];
    try {
      await until(first, (s) => s.state === 'connected', null, 15_000);
      for (const text of ['anyone here?', 'the star is mine']) {
        await first.fill('#chat input', text);
        await first.press('#chat input', 'Enter');
        await until(first, (s, line) => s.chat.some((c) => c.text === line), text, ARRIVES_WITHIN_MS);
      }
      for (const [name, transport] of [
        ['late', 'longpoll'],
        ['later', 'websocket'],
      ] as const) {
        const page = await open(`name=${name}&room=history&transport=${transport}`);
        pages.push(page);
        await until(page, (s) => s.chat.length === 2, null, 15_000);
        assert.deepEqual(
          (await demoState(page)).chat,
          [
            { name: 'early', text: 'anyone here?' },
            { name: 'early', text: 'the star is mine' },
          ],
          `${name} sees the lines sent before it came, once each`,
        );
        assert.equal(await page.locator('#chat-log li').count(), 2);
      }
      // Live lines still arrive after the history, once.
      await first.fill('#chat input', 'welcome');
      await first.press('#chat input', 'Enter');
      for (const page of pages)
        await until(page, (s) => s.chat.at(-1)?.text === 'welcome', null, ARRIVES_WITHIN_MS);
      assert.equal((await demoState(pages[2]!)).chat.length, 3);

      // Every page agrees on three hues, each at least 60 degrees from the others.
      await until(
        first,
        (s) =>
          Object.values(s.players).length === 3 &&
          Object.values(s.players).every((p) => Number.isFinite(p.hue)),
        null,
        15_000,
      );
      const hues = Object.values((await demoState(first)).players).map((p) => p.hue!);
      for (const [i, a] of hues.entries()) {
        for (const b of hues.slice(i + 1)) {
          const gap = Math.min(Math.abs(a - b), 360 - Math.abs(a - b));
          assert.ok(gap >= 60, `hues ${hues.join(', ')}: ${a} and ${b} are ${gap} degrees apart`);
        }
      }

      // At 1280x800 everything, the events panel included, fits without scrolling.
      const layout = await first.evaluate(() => ({
        scrollHeight: document.documentElement.scrollHeight,
        scrollWidth: document.documentElement.scrollWidth,
        logBottom: document.querySelector('#log')!.parentElement!.getBoundingClientRect().bottom,
        explainBottom: document.querySelector('#explain')!.getBoundingClientRect().bottom,
      }));
      assert.ok(layout.scrollHeight <= 800, `the page is ${layout.scrollHeight} px high`);
      assert.ok(layout.scrollWidth <= 1280, `the page is ${layout.scrollWidth} px wide`);
      assert.ok(layout.logBottom <= 800, `the events panel ends at ${layout.logBottom} px`);
      assert.ok(layout.explainBottom <= 800, `the explanation ends at ${layout.explainBottom} px`);
    } finally {
      for (const page of pages) await page.close();
    }
    assert.deepEqual(errors, []);
  });
});
