import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertChannel, isSystemChannel } from './channel.ts';
import { PushwireError } from './errors.ts';

test("a `$` namespace names the server's own channels, and always has a name after it", () => {
  for (const name of ['$admin:stats', '$admin:a:b', 'chat:lobby', 'plain'])
    assert.doesNotThrow(() => assertChannel(name));
  for (const name of ['$admin', '$', '$:x', 'a$b', 'chat:$x', '$$a:b']) {
    assert.throws(
      () => assertChannel(name),
      (error: unknown) => error instanceof PushwireError && error.code === 'invalid_channel',
      name,
    );
  }
  assert.equal(isSystemChannel('$admin:stats'), true);
  assert.equal(isSystemChannel('admin:stats'), false);
});
