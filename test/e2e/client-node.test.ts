import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Pushwire as BrowserPushwire } from '../../src/client/index.ts';
import { Pushwire, type TransportName } from '../../src/client/node.ts';
import { TRANSPORT_NAMES } from '../../src/protocol/index.ts';
import { observe } from '../helpers/client-sdk.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

describe("the SDK's Node entry with default options (no WebSocket or EventSource passed)", () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire();
  });
  after(async () => {
    await server.stop();
  });

  const receives = async (client: Pushwire, channel: string, transport: TransportName) => {
    const observed = observe(client, [channel]);
    try {
      assert.equal((await observed.next('connected')).transport, transport);
      await observed.next('subscribed');
      const sent = await server.publish(channel, { on: transport });
      const got = await observed.messages.next();
      assert.deepEqual([got.offset, got.data], [sent.offset, { on: transport }]);
    } finally {
      client.close();
    }
  };

  test('without a transports option it connects over WebSocket, not long polling', () =>
    receives(new Pushwire(server.url), 'node-default', 'websocket'));

  for (const transport of TRANSPORT_NAMES) {
    test(`${transport}: messages arrive`, () =>
      receives(new Pushwire(server.url, { transports: [transport] }), `node-${transport}`, transport));
  }

  test('the aliases ws and poll work, in any case', async () => {
    await receives(new Pushwire(server.url, { transports: ['ws'] }), 'alias-ws', 'websocket');
    await receives(new Pushwire(server.url, { transports: ['poll'] }), 'alias-poll', 'longpoll');
    await receives(new Pushwire(server.url, { transports: ['WS', 'sse'] }), 'alias-upper', 'websocket');
  });

  test('an unknown transport is refused with the list of valid names', () => {
    assert.throws(
      () => new Pushwire(server.url, { transports: ['websockets'] }),
      (error: Error) => {
        assert.match(error.message, /unknown transport "websockets"/);
        for (const name of [...TRANSPORT_NAMES, 'ws', 'poll']) assert.ok(error.message.includes(name), name);
        return true;
      },
    );
  });

  test('the browser entry on a platform without WebSocket says what to pass', {
    skip: 'WebSocket' in globalThis,
  }, () => {
    assert.throws(
      () => new BrowserPushwire(server.url, { transports: ['websocket'] }),
      /no WebSocket, EventSource or fetch here for websocket: pass them as options/,
    );
  });
});
