import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPong } from './websocket.ts';

test('the bare pong is known by its bytes; any other frame goes to the parser', () => {
  assert.equal(isPong(Buffer.from('{"op":"pong"}')), true);
  // Same length, other bytes.
  assert.equal(isPong(Buffer.from('{"op":"ping"}')), false);
  assert.equal(isPong(Buffer.from('{"op":"pong","id":1}')), false);
  assert.equal(isPong(Buffer.from(' {"op":"pong"}')), false);
  assert.equal(isPong(Buffer.alloc(0)), false);
  // The other shapes `ws` may hand over (binaryType arraybuffer, fragments): never taken for one.
  assert.equal(isPong(new Uint8Array(Buffer.from('{"op":"pong"}')).buffer), false);
  assert.equal(isPong([Buffer.from('{"op":'), Buffer.from('"pong"}')]), false);
});
