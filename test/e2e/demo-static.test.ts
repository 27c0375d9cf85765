import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

/** A GET with the path sent exactly as given (fetch and URL would normalize `..` away). */
function rawGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject).end();
  });
}

function clientPublish(url: string, channel: string): Promise<Response> {
  return fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data: { t: 'move', x: 1, y: 2 } }),
  });
}

const DEMO_LINE = 'demo on: clients may publish on game:* channels';

describe('pushwire serve with the demo on', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--demo', '--log-level', 'info'] });
  });
  after(() => server.stop());

  test('serves the page at / and its module at /demo.js, with their content types', async () => {
    const page = await rawGet(server.port, '/');
    assert.equal(page.status, 200);
    assert.equal(page.type, 'text/html; charset=utf-8');
    assert.match(page.body, /<script type="module" src="demo.js"><\/script>/);
    const script = await rawGet(server.port, '/demo.js');
    assert.equal(script.status, 200);
    assert.equal(script.type, 'text/javascript; charset=utf-8');
    assert.match(script.body, /import \{ Pushwire \} from '\.\/pushwire\.js';/);
  });

  test('names no other file, however the path is spelled', async () => {
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/demo.js/../../package.json',
      '/..%2f..%2fpackage.json',
      '/index.html',
      '/demo/demo.js',
    ]) {
      const response = await rawGet(server.port, path);
      assert.equal(response.status, 404, path);
      assert.equal(JSON.parse(response.body).error.code, 'not_found', path);
    }
    // A target that isn't a path (protocol-relative) is refused before any route is looked up.
    const relative = await rawGet(server.port, '//etc/passwd');
    assert.equal(relative.status, 400);
    assert.equal(JSON.parse(relative.body).error.code, 'invalid_request');
  });

  test('adds a game namespace whose clients may publish, and says so once', async () => {
    const response = await clientPublish(server.url, 'game:lobby');
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { channel: string }).channel, 'game:lobby');
    const forbidden = await clientPublish(server.url, 'elsewhere:lobby');
    assert.equal(forbidden.status, 403);
    const lines = server
      .output()
      .stderr.split('\n')
      .filter((line) => line.includes(DEMO_LINE));
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]!).level, 30, 'an info line');
  });
});

describe('pushwire serve with a game namespace of its own', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({
      args: ['--demo', '--log-level', 'info', '--config', 'test/fixtures/game-namespace.yaml'],
    });
  });
  after(() => server.stop());

  test('keeps the configured namespace and adds nothing', async () => {
    assert.equal((await rawGet(server.port, '/')).status, 200);
    assert.equal((await clientPublish(server.url, 'game:lobby')).status, 200);
    assert.ok(!server.output().stderr.includes(DEMO_LINE));
  });
});

describe('pushwire serve --no-demo', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--no-demo', '--log-level', 'info'] });
  });
  after(() => server.stop());

  test('answers / and /demo.js with 404, and clients may not publish on game:', async () => {
    for (const path of ['/', '/demo.js']) {
      const response = await rawGet(server.port, path);
      assert.equal(response.status, 404, path);
      assert.equal(JSON.parse(response.body).error.code, 'not_found');
    }
    const response = await clientPublish(server.url, 'game:lobby');
    assert.equal(response.status, 403);
    assert.ok(!server.output().stderr.includes(DEMO_LINE));
  });
});
