import type { Duplex } from 'node:stream';
import { asPushwireError, type ErrorCode, PushwireError, retryAfterSecondsOf } from '../protocol/index.ts';

/**
 * What a failure at the edge (a request, an upgrade, a frame) may put in a log line: its type,
 * code and where it was thrown, never its message. Messages of errors thrown while reading a
 * client's bytes (JSON.parse, URL, TextDecoder …) quote those bytes, and a client must not be
 * able to write into the operator's logs, nor make one request cost a page of them.
 */
export function faultOf(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const code = (error as { code?: unknown }).code;
  // The stack starts with the message, which may span lines (and look like frames): cut it.
  const stack = error.stack ?? '';
  const header = error.message === '' ? error.name : `${error.name}: ${error.message}`;
  const rest = stack.startsWith(header) ? stack.slice(header.length) : '';
  const frames = rest.split('\n').filter((line) => line.startsWith('    at '));
  return {
    type: error.name,
    ...(typeof code === 'string' && { code }),
    stack: frames.slice(0, 8).join('\n'),
  };
}

/** Error codes that say the peer went away or took too long: no fault of ours, logged at debug. */
const GONE_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP_REQUEST_TIMEOUT',
  'ERR_STREAM_DESTROYED',
]);

/** Whether `error` (thrown while serving a request) means the client left or timed out. */
export function isClientGone(error: unknown, socket: { readonly destroyed: boolean } | null): boolean {
  if (socket?.destroyed) return true;
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as { message?: unknown } | null)?.message;
  return (typeof code === 'string' && GONE_CODES.has(code)) || message === 'aborted';
}

const REASONS: Partial<Record<number, string>> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** How long a socket answered with `answerSocket` may take to read the answer and close. */
const ANSWER_GRACE_MS = 2000;

/**
 * Answers on a raw socket (no request object: a parse error, a refused connection, an upgrade
 * nobody serves) with the documented JSON error shape, then closes it. What the client still
 * sends is read and dropped, so that closing doesn't reset the connection before the client
 * has read the answer.
 */
export function answerSocket(
  socket: Duplex,
  error: PushwireError | ErrorCode,
  headers: Readonly<Record<string, string>> = {},
): void {
  const failure = typeof error === 'string' ? new PushwireError(error) : asPushwireError(error);
  if (socket.destroyed) return;
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(failure.toBody());
  const head = [
    `HTTP/1.1 ${failure.status} ${REASONS[failure.status] ?? 'Error'}`,
    'Content-Type: application/json',
    'Cache-Control: no-store',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  const wait = retryAfterSecondsOf(failure.code);
  if (wait !== null) head.push(`Retry-After: ${wait}`);
  // As sendJson's head: no `Vary` on an answer that is never stored.
  for (const [name, value] of Object.entries(headers)) if (name !== 'Vary') head.push(`${name}: ${value}`);
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  socket.resume();
  setTimeout(() => socket.destroy(), ANSWER_GRACE_MS).unref();
}

/** The answer to a request Node's parser refused (`clientError`). */
export function clientErrorOf(error: unknown): PushwireError {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new PushwireError('request_timeout', 'the request did not arrive within the request timeout');
    case 'HPE_HEADER_OVERFLOW':
      return new PushwireError('headers_too_large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new PushwireError('payload_too_large', 'chunk extensions are too large');
    default:
      return new PushwireError('invalid_request', 'the request is not valid HTTP/1.1');
  }
}

/** Where the edge logs what clients cause: faults once and without their bytes, departures at debug. */
export interface EdgeLog {
  /** A bug hit while serving a client: logged once, at error, without the client's bytes. */
  fault(stage: string, error: unknown): void;
  /** A client that went away or ran out of time: logged at debug, without a stack. */
  gone(stage: string, error: unknown): void;
}

interface LevelLogger {
  error(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export function edgeLogOf(logger: LevelLogger): EdgeLog {
  return {
    fault: (stage, error) => logger.error({ stage, fault: faultOf(error) }, `pushwire: ${stage} failed`),
    gone: (stage, error) => {
      const code = (error as { code?: unknown } | null)?.code;
      logger.debug(
        { stage, ...(typeof code === 'string' && { code }) },
        `pushwire: ${stage} cut short by the client`,
      );
    },
  };
}
