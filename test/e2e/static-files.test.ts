import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { buildClientBundle } from '../helpers/browser.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request, its body exactly as sent (fetch would decompress it behind our back). */
function raw(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject).end();
  });
}

describe('the client bundle and the demo files over HTTP', () => {
  let server: RunningPushwire;
  let plain: Raw;
  before(async () => {
    await buildClientBundle();
    server = await startPushwire({ args: ['--demo'] });
    plain = await raw(server.port, '/pushwire.js');
  });
  after(() => server?.stop());

  test('gzip and brotli when the client accepts them, the same bytes once decoded', async (t) => {
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: the plain file');
    assert.equal(plain.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(plain.headers.vary, 'Origin, Accept-Encoding', 'the answer depends on both');
    const gzipped = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'gzip' });
    const brotli = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.equal(brotli.headers['content-encoding'], 'br');
    assert.equal(gzipped.headers.vary, 'Origin, Accept-Encoding');
    assert.deepEqual(gunzipSync(gzipped.body), plain.body);
    assert.deepEqual(brotliDecompressSync(brotli.body), plain.body);
    assert.equal(Number(gzipped.headers['content-length']), gzipped.body.length);
    assert.ok(
      gzipped.body.length < plain.body.length / 2,
      `gzip ${gzipped.body.length} of ${plain.body.length}`,
    );
    assert.ok(
      brotli.body.length < gzipped.body.length,
      `brotli ${brotli.body.length}, gzip ${gzipped.body.length}`,
    );
    t.diagnostic(
      `/pushwire.js: ${plain.body.length} B plain, ${gzipped.body.length} B gzip, ${brotli.body.length} B brotli`,
    );
  });

  test('q=0 refuses an encoding', async () => {
    const noBrotli = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'br;q=0, *' });
    assert.equal(noBrotli.headers['content-encoding'], 'gzip');
    const none = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'gzip;q=0, br;q=0' });
    assert.equal(none.headers['content-encoding'], undefined);
    assert.deepEqual(none.body, plain.body);
  });

  test('a strong ETag and Last-Modified; a matching If-None-Match or If-Modified-Since gets 304', async () => {
    const etag = String(plain.headers.etag);
    assert.match(etag, /^"[\w-]{22}"$/, 'strong: no W/');
    assert.ok(!Number.isNaN(Date.parse(String(plain.headers['last-modified']))));
    const again = await raw(server.port, '/pushwire.js', { 'If-None-Match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers.etag, etag);
    const gzipped = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'gzip' });
    assert.notEqual(gzipped.headers.etag, etag, 'each encoding is its own representation');
    const gzipAgain = await raw(server.port, '/pushwire.js', {
      'Accept-Encoding': 'gzip',
      'If-None-Match': String(gzipped.headers.etag),
    });
    assert.equal(gzipAgain.status, 304);
    const byDate = await raw(server.port, '/pushwire.js', {
      'If-Modified-Since': String(plain.headers['last-modified']),
    });
    assert.equal(byDate.status, 304);
    const changed = await raw(server.port, '/pushwire.js', { 'If-None-Match': '"something-else"' });
    assert.equal(changed.status, 200);
  });

  test('cached for a year under ?v=<package version>, five minutes otherwise', async () => {
    assert.equal(plain.headers['cache-control'], 'public, max-age=300');
    const versioned = await raw(server.port, `/pushwire.js?v=${VERSION}`);
    assert.equal(versioned.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.deepEqual(versioned.body, plain.body);
    const other = await raw(server.port, '/pushwire.global.js?v=0.0.0-not-this-one');
    assert.equal(other.headers['cache-control'], 'public, max-age=300');
    const page = await raw(server.port, '/', { 'Accept-Encoding': 'br' });
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.equal(page.headers['content-encoding'], 'br');
    assert.match(brotliDecompressSync(page.body).toString(), /<script type="module" src="demo.js">/);
  });

  test('HEAD answers the headers of GET without the body', async () => {
    const head = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    const get = await raw(server.port, '/pushwire.js', { 'Accept-Encoding': 'gzip' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    for (const name of [
      'content-length',
      'content-encoding',
      'etag',
      'last-modified',
      'cache-control',
      'vary',
    ]) {
      assert.equal(head.headers[name], get.headers[name], name);
    }
    const notModified = await raw(server.port, '/demo.js', { 'If-None-Match': '*' }, 'HEAD');
    assert.equal(notModified.status, 304);
  });

  test('the demo gets the transport names the server accepts', async () => {
    const names = await raw(server.port, '/transport-names.js');
    assert.equal(names.status, 200);
    assert.match(names.body.toString(), /websocket/);
    assert.match(names.body.toString(), /parseTransportName/);
  });
});
