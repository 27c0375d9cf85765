import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { DEFAULTS } from './config/index.ts';
import { startServer } from './standalone.ts';

test('an accept that fails is logged once per interval with the count since, and the server goes on', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'warn' }, sink);
  const running = await startServer(
    { ...DEFAULTS, port: 0, host: '127.0.0.1', apiKey: 'standalone-test-key-0123', demo: false },
    logger,
  );
  try {
    const failure = Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', syscall: 'accept' });
    for (let i = 0; i < 5; i++) running.server.emit('error', failure);
    const warnings = lines
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'a connection could not be accepted');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].err.code, 'ENOBUFS');
    assert.equal(warnings[0].failuresSinceLast, 0);
    const response = await fetch(
      `${running.url.replace('localhost', '127.0.0.1')}/poll?channel=after-failures`,
    );
    assert.equal(response.status, 200);
  } finally {
    await running.stop();
  }
});
