import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { describeConnectionError } from './connection-problem.ts';

async function fetchError(url: string, timeoutMs = 5000): Promise<unknown> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    return error;
  }
  assert.fail(`${url} answered`);
}

test("names the cause undici's 'fetch failed' hides", async () => {
  const server = createServer((_req, res) => res.end('plain http'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    assert.match(
      describeConnectionError(await fetchError(`https://127.0.0.1:${port}/`)),
      /^TLS failed \(ERR_SSL_WRONG_VERSION_NUMBER\): is it a plain-HTTP server\? use http:\/\/$/,
    );
  } finally {
    server.close();
    await once(server, 'close');
  }
  // The port is free again: nothing listens there.
  assert.equal(
    describeConnectionError(await fetchError(`http://127.0.0.1:${port}/`)),
    'connection refused (ECONNREFUSED): nothing listens on that port; is pushwire serve running there?',
  );
});

test('a timeout says how long it waited', () => {
  const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  assert.equal(describeConnectionError(timeout, 10_000), 'no answer within 10 s');
  const dns = new TypeError('fetch failed', {
    cause: Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' }),
  });
  assert.equal(
    describeConnectionError(dns),
    'host not found (ENOTFOUND): the DNS lookup failed; check the host name',
  );
});
