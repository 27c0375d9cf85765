import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type HookAnswer,
  type HookCall,
  type HookReceiver,
  startHookReceiver,
} from '../helpers/hook-receiver.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { openWsSession, type WsSession } from '../helpers/ws-session.ts';

const SECRET = 'test-hook-secret-0123456789abcdef';
const ALICE = { Cookie: 'session=alice' };

/** The application: who a session cookie is, which rooms are closed, what may be said. */
function application(call: HookCall): HookAnswer {
  const body = call.body;
  if (call.path === '/connect') {
    const cookie = (body.headers as Record<string, string>).cookie;
    if (cookie === 'session=alice') {
      return {
        status: 200,
        body: { user: 'alice', channels: ['sec:*', 'pub:*', 'open'], publish: ['pub:*'] },
      };
    }
    if (cookie === 'session=late') return { status: 200, body: {}, delayMs: 3000 };
    return { status: 403, body: { message: 'no session: sign in first' } };
  }
  if (call.path === '/subscribe') {
    if (body.channel === 'sec:no') return { status: 403, body: { message: 'not your room' } };
    if (body.channel === 'sec:slow') return { status: 200, body: {}, delayMs: 3000 };
    if (body.channel === 'sec:down') return { status: 500 };
    return { status: 200, body: {} };
  }
  if (call.path === '/publish') {
    if (body.channel === 'pub:bad') return { status: 403, body: { message: 'no swearing' } };
    return { status: 200, body: { data: { clean: body.data } } };
  }
  return { status: 404 };
}

const callsTo = (receiver: HookReceiver, path: string) => receiver.calls.filter((call) => call.path === path);

describe('authorization by the application', () => {
  let receiver: HookReceiver;
  let server: RunningPushwire;
  const open: WsSession[] = [];
  const client = (headers: Record<string, string> = ALICE) => {
    const session = openWsSession(server.url, { headers });
    open.push(session);
    return session;
  };

  before(async () => {
    receiver = await startHookReceiver(SECRET);
    receiver.answer = application;
    server = await startPushwire({
      args: [
        '--hook-secret',
        SECRET,
        '--connect-hook-url',
        `${receiver.url}/connect`,
        '--subscribe-hook-url',
        `${receiver.url}/subscribe`,
        '--publish-hook-url',
        `${receiver.url}/publish`,
        '--hook-timeout',
        '1s',
      ],
      env: { PUSHWIRE_NAMESPACES: '{"sec":{"subscribeHook":true},"pub":{"publishHook":true}}' },
    });
  });
  after(async () => {
    for (const session of open) session.close();
    await server?.stop();
    await receiver?.close();
  });

  test('the connect hook lets a client in with the rights it answers, told only the allowed headers', async () => {
    const alice = client({ ...ALICE, 'X-Secret-Internal': 'not for the app' });
    await alice.connected;
    assert.equal((await alice.request({ op: 'subscribe', channel: 'open' })).op, 'reply');
    const closed = await alice.request({ op: 'subscribe', channel: 'closed' });
    assert.deepEqual([closed.op, closed.code], ['error', 'forbidden']);
    const [call] = callsTo(receiver, '/connect');
    assert.ok(call?.signed, 'signed');
    assert.equal(call.body.type, 'connect');
    assert.equal(call.body.transport, 'websocket');
    assert.equal(call.body.address, '127.0.0.1');
    assert.deepEqual(Object.keys(call.body.headers as object).sort(), ['cookie']);
  });

  test('a refusal reaches the client with the application’s message, on WebSocket and SSE', async () => {
    const stranger = client({ Cookie: 'session=nobody' });
    await assert.rejects(stranger.connected);
    const frame = await stranger.frames.next();
    assert.deepEqual(
      [frame.op, frame.code, frame.message],
      ['error', 'forbidden', 'no session: sign in first'],
    );
    assert.equal((await stranger.closed).code, 4504);
    const sse = await fetch(`${server.url}/sse?channel=open&session=x`);
    assert.equal(sse.status, 403);
    assert.deepEqual(await sse.json(), {
      error: { code: 'forbidden', message: 'no session: sign in first' },
    });
    const asked = callsTo(receiver, '/connect').at(-1)!;
    assert.deepEqual(asked.body.query, { channel: ['open'], session: ['x'] });
    assert.equal(asked.body.transport, 'sse');
  });

  test('the subscribe hook is asked on its namespace only, and its refusal reaches the client', async () => {
    const alice = client();
    const clientId = await alice.connected;
    const before = callsTo(receiver, '/subscribe').length;
    assert.equal((await alice.request({ op: 'subscribe', channel: 'sec:ok' })).op, 'reply');
    const refused = await alice.request({ op: 'subscribe', channel: 'sec:no' });
    assert.deepEqual([refused.op, refused.code, refused.message], ['error', 'forbidden', 'not your room']);
    assert.equal((await alice.request({ op: 'subscribe', channel: 'pub:x' })).op, 'reply');
    const asked = callsTo(receiver, '/subscribe').slice(before);
    assert.deepEqual(
      asked.map((call) => call.body),
      [
        { type: 'subscribe', op: 'subscribe', channel: 'sec:ok', clientId, user: 'alice' },
        { type: 'subscribe', op: 'subscribe', channel: 'sec:no', clientId, user: 'alice' },
      ],
    );
    const sse = await fetch(`${server.url}/sse?channel=sec:no`, { headers: ALICE });
    assert.equal(sse.status, 403);
    assert.equal(((await sse.json()) as { error: { message: string } }).error.message, 'not your room');
  });

  test('a poll without a cursor asks the subscribe hook too, and a refused one leaves no state', async () => {
    const channelsHeld = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^pushwire_history_channels (\d+)$/m.exec(text)?.[1]);
    };
    const held = await channelsHeld();
    const poll = await fetch(`${server.url}/poll?channel=sec:no`, { headers: ALICE });
    assert.equal(poll.status, 403);
    const body = (await poll.json()) as { error: { message: string }; cursor?: string };
    assert.equal(body.error.message, 'not your room');
    assert.equal(body.cursor, undefined, "the channel's position is not told");
    assert.equal(await channelsHeld(), held, 'the broker keeps nothing for the refused channel');
    const alice = client();
    await alice.connected;
    for (const channel of ['sec:no', 'closed']) {
      const refused = await alice.request({ op: 'subscribe', channel });
      assert.equal(refused.code, 'forbidden', channel);
    }
    assert.equal(await channelsHeld(), held, 'nor for subscribes it refused');
    const allowed = await fetch(`${server.url}/poll?channel=sec:fine`, { headers: ALICE });
    assert.equal(allowed.status, 200);
    assert.equal(await channelsHeld(), held + 1);
  });

  test('the publish hook may replace the data or refuse the publish', async () => {
    const reader = client();
    await reader.connected;
    await reader.request({ op: 'subscribe', channel: 'pub:x' });
    const writer = client();
    await writer.connected;
    assert.equal(
      (await writer.request({ op: 'publish', channel: 'pub:x', data: { text: 'hi' } })).op,
      'reply',
    );
    const message = await reader.frames.nextMatching((frame) => frame.op === 'message');
    assert.deepEqual(message.data, { clean: { text: 'hi' } });
    const refused = await writer.request({ op: 'publish', channel: 'pub:bad', data: 'rude' });
    assert.deepEqual([refused.op, refused.code, refused.message], ['error', 'forbidden', 'no swearing']);
    const asked = callsTo(receiver, '/publish').at(-1)!;
    assert.equal(asked.body.data, 'rude');
    assert.equal(asked.body.user, 'alice');
  });

  test('a hook that does not answer in time makes the client unavailable (503 / 4007), never lets it in', async () => {
    const late = client({ Cookie: 'session=late' });
    await assert.rejects(late.connected);
    const frame = await late.frames.next();
    assert.equal(frame.code, 'unavailable');
    assert.equal((await late.closed).code, 4007);
    const sse = await fetch(`${server.url}/sse?channel=open`, { headers: { Cookie: 'session=late' } });
    assert.equal(sse.status, 503);
    const alice = client();
    await alice.connected;
    const slow = await alice.request({ op: 'subscribe', channel: 'sec:slow' });
    assert.deepEqual([slow.op, slow.code], ['error', 'unavailable']);
  });

  test('a failing hook opens its circuit: clients get unavailable without the hook being asked', async () => {
    const alice = client();
    await alice.connected;
    // A success first, so that the failures below are the ones in a row.
    assert.equal((await alice.request({ op: 'subscribe', channel: 'sec:fine' })).op, 'reply');
    const before = callsTo(receiver, '/subscribe').length;
    for (let i = 0; i < 5; i++) {
      const failed = await alice.request({ op: 'subscribe', channel: 'sec:down' });
      assert.deepEqual([failed.op, failed.code], ['error', 'unavailable']);
    }
    assert.equal(callsTo(receiver, '/subscribe').length, before + 5);
    const skipped = await alice.request({ op: 'subscribe', channel: 'sec:fine2' });
    assert.deepEqual([skipped.op, skipped.code], ['error', 'unavailable']);
    assert.equal(callsTo(receiver, '/subscribe').length, before + 5, 'the open circuit asked nobody');
    // Other hooks are not affected.
    assert.equal((await alice.request({ op: 'subscribe', channel: 'open' })).op, 'reply');
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /pushwire_hooks_circuit_open\{hook="subscribe"\} 1/);
    assert.match(metrics, /pushwire_hooks_circuit_open\{hook="connect"\} 0/);
    assert.match(metrics, /pushwire_hooks_requests_total\{hook="subscribe",outcome="circuit_open"\} 1/);
    assert.match(metrics, /pushwire_hooks_requests_total\{hook="connect",outcome="refused"\} \d+/);
    assert.match(metrics, /pushwire_hooks_requests_total\{hook="publish",outcome="ok"\} 1/);
    assert.match(metrics, /pushwire_hooks_request_duration_seconds_count\{hook="connect"\} \d+/);
  });
});
