import assert from 'node:assert/strict';
import { Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Pushwire } from './node.ts';
import { nodeGet } from './node-get.ts';

/** A real listener on loopback whose answers the test decides. */
async function listen(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A keep-alive agent that counts the connections it opens. */
function countingAgent(): { agent: Agent; opened: () => number } {
  const agent = new Agent({ keepAlive: true });
  let opened = 0;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof create>) => {
    opened++;
    return create(...args);
  }) as typeof agent.createConnection;
  after(() => agent.destroy());
  return { agent, opened: () => opened };
}

test('nodeGet reads a whole answer: status, headers by any case, JSON', async () => {
  const url = await listen((_req, res) => {
    res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '5' });
    res.write('{"error":{"code":"too_many_');
    setTimeout(() => res.end('connections","message":"full"}}'), 20);
  });
  const answer = await nodeGet(undefined)(url);
  assert.equal(answer.status, 429);
  assert.equal(answer.ok, false);
  assert.equal(answer.headers.get('Retry-After'), '5');
  assert.equal(answer.headers.get('x-absent'), null);
  assert.deepEqual(await answer.json(), { error: { code: 'too_many_connections', message: 'full' } });
});

test('nodeGet rejects with the signal’s reason when aborted, and lets the request go', async () => {
  let closed!: () => void;
  const requestClosed = new Promise<void>((resolve) => {
    closed = resolve;
  });
  const url = await listen((req) => req.socket.on('close', closed)); // never answers
  const abort = new AbortController();
  const reason = new Error('link closed');
  const pending = nodeGet(undefined)(url, { signal: abort.signal });
  setTimeout(() => abort.abort(reason), 30);
  await assert.rejects(pending, (error) => error === reason);
  await requestClosed;
  const early = new AbortController();
  early.abort(reason);
  await assert.rejects(nodeGet(undefined)(url, { signal: early.signal }), (error) => error === reason);
});

/** A long-poll server of one message: a cursor, then message 1, then polls that hang. */
function oneMessageServer(req: IncomingMessage, res: ServerResponse): void {
  const cursor = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor');
  if (cursor === '1~a~E1~1') return;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  if (cursor === null) {
    res.end('{"messages":[],"cursor":"1~a~E1~0"}');
    return;
  }
  const message = { channel: 'a', offset: 1, epoch: 'E1', data: 'hi', cursor: '1~a~E1~1' };
  res.end(JSON.stringify({ messages: [message], cursor: '1~a~E1~1' }));
}

async function firstMessage(client: Pushwire): Promise<unknown> {
  return new Promise((resolve) => client.subscribe('a', (message) => resolve(message.data)));
}

test('the Node client long-polls over node:http, through the agent it is given', async () => {
  const url = await listen(oneMessageServer);
  const { agent, opened } = countingAgent();
  const fetched: string[] = [];
  const fetch = async (input: string) => {
    fetched.push(input);
    return new Response('{}', { status: 500 });
  };
  const client = new Pushwire(url, { transports: ['longpoll'], agent, fetch });
  try {
    assert.equal(await firstMessage(client), 'hi');
    assert.equal(opened(), 1, 'every poll went over the agent’s one kept-alive connection');
    assert.deepEqual(fetched, [], 'with an agent, fetch makes no poll');
  } finally {
    client.close();
  }
});

test('the Node client given a fetch and no agent polls with that fetch', async () => {
  const url = await listen(oneMessageServer);
  const fetched: string[] = [];
  const client = new Pushwire(url, {
    transports: ['longpoll'],
    fetch: (input, init) => {
      fetched.push(input);
      return globalThis.fetch(input, init);
    },
  });
  try {
    assert.equal(await firstMessage(client), 'hi');
    assert.ok(fetched.length >= 2, `the polls went through the given fetch (${fetched.length})`);
  } finally {
    client.close();
  }
});
