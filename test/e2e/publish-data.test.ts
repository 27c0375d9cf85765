import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { AsyncQueue } from '../helpers/queue.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

// What JSON.parse + JSON.stringify would have changed: a number beyond double precision,
// one beyond double range (null after a round trip), key order, escapes.
const DATA = '{"big":12345678901234567890123,"x":1e999,"k2":1,"k1":2,"s":"\\u00e9\\ud800\\/"}';
const CHANNEL = 'game:raw';
/** A delivered message of CHANNEL, as text on any transport; group 1 is its data, as bytes sent. */
const MESSAGE = /"channel":"game:raw","offset":\d+,"epoch":"[^"]+","data":(.*?),"cursor":"/g;

interface Reply {
  status: number;
  body: string;
}

/** A POST with exactly these headers (fetch would add a Content-Type of its own). */
function post(url: string, body: string | Buffer, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject).end(body);
  });
}

function assertError(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, reply.body);
  const parsed = JSON.parse(reply.body) as { error: { code: string; message: string } };
  assert.equal(parsed.error.code, code, reply.body);
}

/** A subscriber that keeps the raw text of what it receives: the data of each message, as sent. */
interface RawSubscriber {
  readonly data: AsyncQueue<string>;
  readonly ready: Promise<unknown>;
  close(): void;
}

function collect(data: AsyncQueue<string>, text: string): void {
  for (const match of text.matchAll(MESSAGE)) data.push(match[1]!);
}

function websocketSubscriber(url: string): RawSubscriber {
  const data = new AsyncQueue<string>();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
  const ready = new Promise((resolve, reject) => {
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, op: 'subscribe', channel: CHANNEL })));
    ws.on('message', (frame) => {
      const text = frame.toString();
      if (text.startsWith('{"id":1,"op":"reply"')) resolve(text);
      else collect(data, text);
    });
    ws.on('error', reject);
  });
  return { data, ready, close: () => ws.terminate() };
}

/** SSE, NDJSON stream or long poll, read as bytes from fetch. */
function httpSubscriber(url: string, path: 'sse' | 'stream' | 'poll'): RawSubscriber {
  const data = new AsyncQueue<string>();
  const abort = new AbortController();
  let markReady: (value: unknown) => void = () => {};
  const ready = new Promise((resolve) => {
    markReady = resolve;
  });
  const read = async () => {
    if (path === 'poll') {
      let { cursor } = (await (await fetch(`${url}/poll?channel=${CHANNEL}`)).json()) as { cursor: string };
      markReady(cursor);
      for (;;) {
        const query = `channel=${CHANNEL}&cursor=${encodeURIComponent(cursor)}`;
        const text = await (await fetch(`${url}/poll?${query}`, { signal: abort.signal })).text();
        collect(data, text);
        cursor = (JSON.parse(text) as { cursor: string }).cursor;
      }
    }
    const response = await fetch(`${url}/${path}?channel=${CHANNEL}`, { signal: abort.signal });
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body!) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      // An SSE event ends with a blank line, an NDJSON record with a newline.
      const end = buffered.lastIndexOf(path === 'sse' ? '\n\n' : '\n');
      if (end === -1) continue;
      const complete = buffered.slice(0, end);
      buffered = buffered.slice(end);
      if (complete.includes('connected')) markReady(complete);
      collect(data, complete);
    }
  };
  read().catch((error: Error) => data.fail(error));
  return { data, ready, close: () => abort.abort() };
}

describe('published data reaches every subscriber byte for byte, whichever way it was published', () => {
  let server: RunningPushwire;
  const subscribers: [string, RawSubscriber][] = [];

  before(async () => {
    server = await startPushwire({ args: ['--config', 'test/fixtures/game-namespace.yaml'] });
    subscribers.push(
      ['websocket', websocketSubscriber(server.url)],
      ['sse', httpSubscriber(server.url, 'sse')],
      ['stream', httpSubscriber(server.url, 'stream')],
      ['poll', httpSubscriber(server.url, 'poll')],
    );
    await Promise.all(subscribers.map(([, subscriber]) => subscriber.ready));
  });
  after(async () => {
    for (const [, subscriber] of subscribers) subscriber.close();
    await server.stop();
  });

  /** POST /api/publish with this Content-Type (null: none at all). */
  const api = (body: string | Buffer, type: string | null = 'application/json') =>
    post(`${server.url}/api/publish`, body, {
      Authorization: `Bearer ${server.apiKey}`,
      ...(type === null ? {} : { 'Content-Type': type }),
    });
  /** POST /publish, as a client on SSE, long poll or stream does. */
  const client = (body: string | Buffer, type: string | null = 'application/json') =>
    post(`${server.url}/publish`, body, type === null ? {} : { 'Content-Type': type });

  test('HTTP API, client HTTP and WebSocket publishes arrive with the data text as sent', async () => {
    const body = `{"channel":"${CHANNEL}","data":${DATA}}`;
    assert.equal((await api(body)).status, 200);
    assert.equal((await client(body)).status, 200);

    const publisher = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`);
    const reply = new Promise<string>((resolve, reject) => {
      publisher.on('message', (frame) => {
        if (frame.toString().includes('"op":"reply"')) resolve(frame.toString());
      });
      publisher.on('error', reject);
    });
    await new Promise((resolve) => publisher.once('open', resolve));
    publisher.send(`{"id":7,"op":"publish","channel":"${CHANNEL}","data":${DATA}}`);
    assert.match(await reply, /^\{"id":7,"op":"reply","channel":"game:raw","offset":3,/);
    publisher.close();

    // Line breaks between tokens are the one thing not kept: a message is one SSE or NDJSON line.
    const pretty = `{\n  "channel": "${CHANNEL}",\n  "data": {\r\n\t"a" : [ 1 , "x  y" ] }\n}\n`;
    assert.equal((await api(pretty)).status, 200);

    for (const [name, subscriber] of subscribers) {
      const received = [];
      for (let i = 0; i < 4; i++)
        received.push(await subscriber.data.next(10_000, `${name} message ${i + 1}`));
      assert.deepEqual(received, [DATA, DATA, DATA, '{\t"a" : [ 1 , "x  y" ] }'], name);
    }
  });

  test('a list of publications on the HTTP API keeps each data as sent', async () => {
    const body = `{"publications":[{"channel":"${CHANNEL}","data":${DATA}},{"channel":"${CHANNEL}","data":1.50}]}`;
    const reply = await api(body);
    assert.equal(reply.status, 200, reply.body);
    for (const [name, subscriber] of subscribers) {
      assert.deepEqual([await subscriber.data.next(), await subscriber.data.next()], [DATA, '1.50'], name);
    }
  });

  test('a BOM before the body is allowed; a body that is not UTF-8 is invalid_json', async () => {
    const body = Buffer.from(`{"channel":"${CHANNEL}","data":"é"}`);
    assert.equal((await api(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]))).status, 200);
    const latin1 = Buffer.from(`{"channel":"${CHANNEL}","data":"\xe9"}`, 'latin1');
    assertError(await api(latin1), 400, 'invalid_json');
    assertError(await client(Buffer.from([0x7b, 0xed, 0xa0, 0x80, 0x7d])), 400, 'invalid_json');
    for (const [name, subscriber] of subscribers) assert.equal(await subscriber.data.next(), '"é"', name);
  });

  test('publish bodies that are not application/json are refused with 415', async () => {
    const body = `{"channel":"${CHANNEL}","data":1}`;
    // No type, and the types a page on another origin can POST without a CORS preflight.
    const refused = [
      null,
      '',
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/json',
      'application/jsonx',
      'application/json; charset=iso-8859-1',
    ];
    for (const type of refused) {
      for (const publish of [api, client]) {
        assertError(await publish(body, type), 415, 'unsupported_media_type');
      }
    }
    for (const type of [
      'application/json; charset=UTF-8',
      'Application/JSON',
      'application/json ; charset="utf-8"',
    ]) {
      assert.equal((await api(body, type)).status, 200, type);
      assert.equal((await client(body, type)).status, 200, type);
    }
    for (const [name, subscriber] of subscribers) {
      for (let i = 0; i < 6; i++) assert.equal(await subscriber.data.next(), '1', name);
    }
  });

  test('JSON nested deeper than allowed is invalid_json on every publish path, not a crash', async () => {
    const deep = (depth: number) =>
      `{"channel":"${CHANNEL}","data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    for (const publish of [api, client]) {
      assertError(await publish(deep(101)), 400, 'invalid_json');
      assertError(await publish(deep(20_000)), 400, 'invalid_json');
    }
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`);
    const frames = new AsyncQueue<string>();
    ws.on('message', (frame) => frames.push(frame.toString()));
    await new Promise((resolve) => ws.once('open', resolve));
    assert.match(await frames.next(), /"op":"connected"/);
    ws.send(deep(20_000).replace('{', '{"id":1,"op":"publish",'));
    assert.match(await frames.next(), /^\{"op":"error","code":"invalid_json","message":"[^"]*nested deeper/);
    ws.send(`{"id":2,"op":"publish","channel":"${CHANNEL}","data":${'['.repeat(100)}${']'.repeat(100)}}`);
    assert.match(await frames.next(), /^\{"id":2,"op":"reply"/, 'the connection carries on');
    ws.close();
    assert.equal((await api(deep(100))).status, 200);
    for (const [name, subscriber] of subscribers) {
      assert.equal((await subscriber.data.next()).length, 200, name);
      assert.equal((await subscriber.data.next()).length, 200, name);
    }
  });
});
