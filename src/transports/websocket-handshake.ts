import type { IncomingMessage } from 'node:http';
import { PushwireError } from '../protocol/index.ts';
import type { UpgradeProblem } from './types.ts';

/** RFC 6455 §4.1: the key is 16 random bytes, base64-encoded. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** A subprotocol list: tokens separated by commas and optional spaces. */
const PROTOCOLS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;
/** The versions `ws` speaks; a client of another is told these (RFC 6455 §4.4). */
const WEBSOCKET_VERSIONS = '13, 8';

/**
 * What is wrong with a WebSocket opening handshake, checked before anything else is done for
 * it, so that a malformed one gets the documented JSON error (`ws` would answer a bare 400
 * without saying why). Null when it is one `ws` accepts.
 */
export function webSocketHandshakeProblem(req: IncomingMessage): UpgradeProblem | null {
  if (req.method !== 'GET') return refused('method_not_allowed', 'a WebSocket opens with GET');
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
    return refused('invalid_request', 'the Upgrade header must be "websocket"');
  }
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) {
    return refused('invalid_request', 'Sec-WebSocket-Key must be 16 bytes in base64');
  }
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    return {
      error: new PushwireError(
        'invalid_request',
        `Sec-WebSocket-Version must be one of ${WEBSOCKET_VERSIONS}`,
      ),
      headers: { 'Sec-WebSocket-Version': WEBSOCKET_VERSIONS },
    };
  }
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols !== undefined && !validProtocols(protocols)) {
    return refused(
      'invalid_request',
      'Sec-WebSocket-Protocol must be a comma-separated list of distinct tokens',
    );
  }
  return null;
}

/** `ws` refuses a list that repeats a name, as it refuses one that isn't a list of tokens. */
function validProtocols(header: string): boolean {
  if (!PROTOCOLS.test(header)) return false;
  const names = header.split(',').map((name) => name.trim());
  return new Set(names).size === names.length;
}

function refused(code: 'invalid_request' | 'method_not_allowed', message: string): UpgradeProblem {
  return { error: new PushwireError(code, message) };
}
