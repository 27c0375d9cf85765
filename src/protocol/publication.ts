import { assertChannel } from './channel.ts';
import { asPushwireError, PushwireError } from './errors.ts';
import {
  type JsonFields,
  parseRawJson,
  type RawJson,
  scanJsonObject,
  scanJsonObjectList,
  scanJsonValue,
} from './json-scan.ts';

/** A publish that passed every check: a valid channel, and data as the publisher sent it. */
export interface PublishInput {
  readonly channel: string;
  readonly data: RawJson;
}

/**
 * The check every publish passes last, whichever way it came (HTTP API, client HTTP, WebSocket
 * op, library call): a valid channel, data present, at most `maxMessageBytes` of UTF-8. `data`
 * is the scanner's raw text (RawJson), so it is valid JSON no deeper than allowed by now.
 */
export function validatePublication(
  channel: unknown,
  data: RawJson | undefined,
  maxMessageBytes: number,
): PublishInput {
  assertChannel(channel);
  if (data === undefined) throw new PushwireError('invalid_request', 'publish needs "data" (any JSON value)');
  if (exceedsUtf8(data, maxMessageBytes)) {
    throw new PushwireError('payload_too_large', `data is larger than ${maxMessageBytes} bytes`);
  }
  return { channel, data };
}

const NOT_AN_OBJECT = 'the body must be a JSON object {"channel": ..., "data": ...}';

/** A publish body `{"channel": "...", "data": ...}` (POST /publish, and /api/publish). */
export function readPublication(text: string, maxMessageBytes: number): PublishInput {
  return publicationOf(readEnvelope(text, NOT_AN_OBJECT), maxMessageBytes);
}

/**
 * A body of the server's publish API: one `{"channel","data"}`, or `{"publications":[…]}`
 * listing 1 to `maxList` of them (`list` says which). Each is checked by validatePublication;
 * a refusal in a list names the publication's index. In a list, `data` may nest two levels
 * less deep: the list and its object count against the body's limit.
 */
export function readPublications(
  text: string,
  maxMessageBytes: number,
  maxList: number,
): { list: boolean; publications: PublishInput[] } {
  const body = readEnvelope(text, NOT_AN_OBJECT);
  const listed = body.fields.get('publications');
  if (listed === undefined) return { list: false, publications: [publicationOf(body, maxMessageBytes)] };
  const scanned = scanJsonObjectList(listed);
  const items = scanned.ok ? scanned.value : null;
  if (items === null || items.length === 0 || items.length > maxList) {
    throw new PushwireError(
      'invalid_request',
      `"publications" must list 1 to ${maxList} {"channel","data"} objects`,
    );
  }
  const publications = items.map((item, i) => {
    try {
      return publicationOf(item, maxMessageBytes);
    } catch (error) {
      const failure = asPushwireError(error);
      throw new PushwireError(failure.code, `publications[${i}]: ${failure.message}`);
    }
  });
  return { list: true, publications };
}

function publicationOf({ fields, duplicateKey }: JsonFields, maxMessageBytes: number): PublishInput {
  if (duplicateKey !== null) throw duplicate(duplicateKey);
  return validatePublication(fieldValue(fields, 'channel'), fields.get('data'), maxMessageBytes);
}

function duplicate(key: string): PushwireError {
  return new PushwireError('invalid_request', `"${key.slice(0, 64)}" is given twice`);
}

/** A publish of a JavaScript value (the library's `pushwire.publish`): serialized once, here. */
export function publicationOfValue(channel: unknown, value: unknown, maxMessageBytes: number): PublishInput {
  assertChannel(channel);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // A BigInt, a cycle, or nesting deep enough to overflow JSON.stringify's recursion.
    throw new PushwireError(
      'invalid_request',
      `data is not serializable as JSON: ${(error as Error).message}`,
    );
  }
  if (text === undefined) throw new PushwireError('invalid_request', 'data must be a JSON value');
  const scanned = scanJsonValue(text);
  if (!scanned.ok) throw new PushwireError('invalid_json', `data is not allowed JSON: ${scanned.reason}`);
  return validatePublication(channel, scanned.value, maxMessageBytes);
}

/**
 * The top-level fields of a body or frame that must be a JSON object. A key given twice is
 * refused rather than resolved: RFC 8259 leaves the meaning open, and a proxy or hook that
 * reads the first `channel` while Pushwire used the last would check the wrong one.
 */
export function readEnvelope(text: string, notAnObject: string): JsonFields {
  const scanned = scanJsonObject(text);
  if (!scanned.ok) throw new PushwireError('invalid_json', `not valid JSON: ${scanned.reason}`);
  if (scanned.value === null) throw new PushwireError('invalid_request', notAnObject);
  if (scanned.value.duplicateKey !== null) throw duplicate(scanned.value.duplicateKey);
  return scanned.value;
}

/** The parsed value of one field (undefined when absent). Never `data`: that stays raw. */
export function fieldValue(fields: ReadonlyMap<string, RawJson>, name: string): unknown {
  const raw = fields.get(name);
  return raw === undefined ? undefined : parseRawJson(raw);
}

/** Whether `text` takes more than `maxBytes` as UTF-8 (a lone surrogate as U+FFFD: 3 bytes). */
function exceedsUtf8(text: string, maxBytes: number): boolean {
  // A UTF-16 unit takes 1 to 3 bytes: the length alone decides most texts without a count.
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes > maxBytes;
}
