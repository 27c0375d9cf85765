import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { accepts, freePort } from './ports.ts';
import { skipUnlessAvailable } from './requirements.ts';
import { startTtlProxy, TTL_PROXY, type TtlProxy } from './ttl-proxy.ts';

// The fixture on its own, before any Pushwire test trusts it: silence is cut, traffic keeps a
// response alive, and stop() leaves nothing behind.

const TTL_S = 1;
/** Longer than the TTL: a response that sees it through was kept alive, not lucky. */
const LATE_MS = 2500;

/** `/silent` sends one line, then nothing until LATE_MS; `/beating` also sends a line every 300 ms. */
function upstream(): Server {
  return createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    res.write('{"op":"hello"}\n');
    const beat = req.url === '/beating' ? setInterval(() => res.write('{"op":"ping"}\n'), 300) : undefined;
    const late = setTimeout(() => res.end('{"op":"late"}\n'), LATE_MS);
    res.on('close', () => {
      clearInterval(beat);
      clearTimeout(late);
    });
  });
}

/** Reads a response to its end: whether it ended complete, and what it carried. */
async function read(url: string): Promise<{ complete: boolean; body: string }> {
  const [res] = (await once(get(url), 'response')) as [IncomingMessage];
  let body = '';
  res.setEncoding('utf8');
  // A cut response emits 'aborted' as an error: here that is an outcome, read from `complete`.
  res.on('error', () => {});
  res.on('data', (chunk: string) => {
    body += chunk;
  });
  await new Promise((resolve) => res.once('close', resolve));
  return { complete: res.complete, body };
}

describe('the TTL proxy fixture', { skip: await skipUnlessAvailable(TTL_PROXY) }, () => {
  let server: Server;
  let proxy: TtlProxy;

  before(async () => {
    server = upstream();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    proxy = await startTtlProxy(address.port, TTL_S);
  });
  after(async () => {
    await proxy?.stop();
    server?.closeAllConnections();
    server?.close();
  });

  test('cuts a silent response after the idle timeout, and keeps one that has traffic', async () => {
    const [silent, beating] = await Promise.all([read(`${proxy.url}/silent`), read(`${proxy.url}/beating`)]);
    assert.equal(silent.complete, false, 'the silent response was cut');
    assert.doesNotMatch(silent.body, /late/);
    assert.equal(beating.complete, true, 'the beating response ended on its own');
    assert.match(beating.body, /"late"/);
  });

  test('stop() ends nginx by its PID and frees the port; a second stop() is harmless', async () => {
    const other = await startTtlProxy(await freePort(), TTL_S);
    assert.equal(await accepts(other.port), true);
    await other.stop();
    assert.throws(() => process.kill(other.pid, 0), { code: 'ESRCH' });
    assert.equal(await accepts(other.port), false);
    await other.stop();
  });

  test("a proxy that nginx refuses to start fails with nginx's own words", async () => {
    await assert.rejects(startTtlProxy(0, TTL_S), (error: Error) => {
      assert.match(error.message, /no proxy started on 127\.0\.0\.1:\d+: nginx exited with 1/);
      assert.match(error.message, /invalid port/);
      return true;
    });
  });
});
