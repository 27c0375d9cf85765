import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { openRawClient, TRANSPORTS } from '../helpers/clients.ts';
import { startPushwire } from '../helpers/server.ts';

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: every client is told to reconnect, accepted publishes finish, exit 0`, async () => {
    const server = await startPushwire();
    const clients = TRANSPORTS.map((kind) => openRawClient(kind, server.url, { channels: ['drain'] }));
    await Promise.all(clients.map((c) => c.ready));
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    const closeCode = new Promise<number>((resolve) => ws.on('close', resolve));
    await new Promise((resolve) => ws.once('open', resolve));

    // Publishes racing the signal: each is either accepted (200) or refused with the error shape.
    const racing = Array.from({ length: 20 }, (_, i) =>
      fetch(`${server.url}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: 'drain', data: i }),
      }).then(
        async (response) => ({ status: response.status, body: await response.text() }),
        (error: Error) => ({ status: 0, body: String(error.cause ?? error) }),
      ),
    );
    const exitCode = server.stop(signal);

    for (const client of clients) {
      // A long poll is told in the answer it holds; one that came back (with a racing
      // publish) after the drain began is refused 503 shutting_down: "reconnect elsewhere"
      // (docs/protocol.md), as every new request is then, or, once the server has drained
      // and gone, finds nobody listening.
      const event = await client.events.nextMatching(
        (e) => e.type === 'reconnect' || (client.kind === 'longpoll' && e.type === 'closed'),
        10_000,
        `${client.kind} reconnect`,
      );
      if (event.type === 'closed') {
        assert.match(
          event.detail,
          /^poll answered 503: .*"code":"shutting_down"|^fetch failed: .*(ECONNREFUSED|ECONNRESET|other side closed|SocketError)/,
          client.kind,
        );
        continue;
      }
      assert.equal(event.type === 'reconnect' && event.reason, 'shutdown', client.kind);
      assert.ok(event.type === 'reconnect' && event.delayMs >= 0);
    }
    assert.equal(await closeCode, 4000);
    assert.equal(await exitCode, 0);
    for (const { status, body } of await Promise.all(racing)) {
      if (status === 200) assert.match(body, /"offset":\d+/);
      else if (status === 503) assert.match(body, /"code":"shutting_down"/);
      // Refused, or a reused keep-alive connection closed as the request went out (the
      // server never read it): what any HTTP client sees of a server that stops.
      else
        assert.match(
          body,
          /ECONNREFUSED|ECONNRESET|other side closed|SocketError/,
          `unexpected: ${status} ${body}`,
        );
    }
    for (const c of clients) c.close();
    ws.terminate();
  });
}
