/**
 * A validating JSON scanner (RFC 8259) that hands back the source text of values instead of
 * rebuilding them. `JSON.parse` + `JSON.stringify` would round big integers, turn `1e999` into
 * `null` and rewrite escapes; a published `data` must reach subscribers token for token.
 *
 * The scanner is a loop over an explicit stack, so no input can overflow the call stack, and
 * it refuses nesting past a limit so that whoever parses the text later (a subscriber's
 * `JSON.parse`, a recursive `JSON.stringify`) doesn't either.
 */

/**
 * How deep a value may nest arrays and objects: `[]` is 1 deep, `[[1]]` 2. Far more than any
 * real payload needs, far less than what makes recursive JSON code overflow.
 */
export const MAX_JSON_DEPTH = 100;

declare const rawJsonBrand: unique symbol;

/**
 * JSON text that the scanner validated: the value's tokens exactly as sent (numbers, strings
 * with their escapes, key order, repeated keys, spacing), with the line breaks between tokens
 * removed, so that it fits on one line of an SSE event or NDJSON stream.
 */
export type RawJson = string & { readonly [rawJsonBrand]: true };

export type JsonScan<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

/** The top-level members of a JSON object, each value kept as raw text. */
export interface JsonFields {
  /**
   * Keys with their escapes decoded. A key given twice keeps its last value, as `JSON.parse`
   * does; `duplicateKey` tells, so that callers can refuse the ambiguity.
   */
  readonly fields: ReadonlyMap<string, RawJson>;
  /** The first top-level key that appeared more than once, or null. */
  readonly duplicateKey: string | null;
}

/** Validates `text` as one JSON value at most `maxDepth` deep and returns it as raw text. */
export function scanJsonValue(text: string, maxDepth: number = MAX_JSON_DEPTH): JsonScan<RawJson> {
  const scanned = scan(text, maxDepth, null);
  if (typeof scanned === 'string') return { ok: false, reason: scanned };
  return { ok: true, value: scanned.raw as RawJson };
}

/**
 * Validates `text` as JSON and, when it is an object, returns its top-level members with their
 * values as raw text (null for any other valid JSON). `maxDepth` bounds each member's value,
 * so a field may nest as deep as a value given to `scanJsonValue`.
 */
export function scanJsonObject(text: string, maxDepth: number = MAX_JSON_DEPTH): JsonScan<JsonFields | null> {
  const collector = new Collector(1);
  const scanned = scan(text, maxDepth, collector);
  if (typeof scanned === 'string') return { ok: false, reason: scanned };
  return { ok: true, value: scanned.collected ? collector.objects[0]! : null };
}

/**
 * Validates `text` as JSON and, when it is an array of objects, returns the members of each
 * object as `scanJsonObject` does (null for any other valid JSON). `maxDepth` bounds each
 * member's value.
 */
export function scanJsonObjectList(
  text: string,
  maxDepth: number = MAX_JSON_DEPTH,
): JsonScan<readonly JsonFields[] | null> {
  const collector = new Collector(2);
  const scanned = scan(text, maxDepth, collector);
  if (typeof scanned === 'string') return { ok: false, reason: scanned };
  return { ok: true, value: scanned.collected && collector.onlyObjects ? collector.objects : null };
}

/** The value of validated raw text: safe, as the scanner bounded its depth. */
export function parseRawJson(raw: RawJson): unknown {
  return JSON.parse(raw);
}

const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_1 = 0x31;
const DIGIT_9 = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const LEFT_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const RIGHT_BRACKET = 0x5d;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_U = 0x75;
const LEFT_BRACE = 0x7b;
const RIGHT_BRACE = 0x7d;

interface Members {
  readonly fields: Map<string, RawJson>;
  duplicateKey: string | null;
}

/**
 * Takes the members of the objects at one level: 1, the top-level object; 2, each object in
 * a top-level array.
 */
class Collector {
  readonly objects: Members[] = [];
  onlyObjects = true;

  constructor(readonly level: 1 | 2) {}

  open(): void {
    this.objects.push({ fields: new Map(), duplicateKey: null });
  }

  add(key: string, raw: string): void {
    const members = this.objects[this.objects.length - 1]!;
    if (members.duplicateKey === null && members.fields.has(key)) members.duplicateKey = key;
    members.fields.set(key, raw as RawJson);
  }
}

interface Scanned {
  /** The top-level value's raw text (empty when members were collected instead). */
  raw: string;
  /** Whether the top-level value had the shape the collector takes members from. */
  collected: boolean;
}

/**
 * The raw text of the value being scanned, without the line breaks between its tokens: a
 * slice of the input when there was none (the common case: JSON.stringify writes none), else
 * the slices between them, joined once.
 */
class RawRecorder {
  private start = -1;
  private from = -1;
  private pieces: string[] | null = null;

  constructor(private readonly text: string) {}

  begin(pos: number): void {
    this.start = pos;
    this.from = pos;
    this.pieces = null;
  }

  /** Text from `start` to `end` (a line break) is dropped when inside the recorded value. */
  space(start: number, end: number): void {
    if (this.from < 0) return;
    this.pieces ??= [];
    this.pieces.push(this.text.slice(this.from, start));
    this.from = end;
  }

  end(pos: number): string {
    const { text, pieces } = this;
    let raw: string;
    if (pieces === null) raw = text.slice(this.start, pos);
    else {
      pieces.push(text.slice(this.from, pos));
      raw = pieces.join('');
    }
    this.from = -1;
    this.pieces = null;
    return raw;
  }

  get recording(): boolean {
    return this.from >= 0;
  }
}

/**
 * The scanner: a value is expected at `pos`, read it, then (in the inner loop) close what it
 * completes until another value is expected or the text ends. The stack holds one entry per
 * open container (true: object). Returns a reason when the text is not valid. With a
 * collector, the members at its level go there and the depth limit applies to their values.
 */
function scan(text: string, maxDepth: number, collector: Collector | null): Scanned | string {
  const length = text.length;
  const stack: boolean[] = [];
  const recorder = new RawRecorder(text);
  const space = (at: number): number => {
    const next = skipSpace(text, at);
    // Spaces and tabs are kept; a line break would end the SSE event or NDJSON line.
    for (let i = at; i < next; i++) {
      const code = text.charCodeAt(i);
      if (code === LINE_FEED || code === CARRIAGE_RETURN) recorder.space(i, i + 1);
    }
    return next;
  };
  let pos = skipSpace(text, 0);
  const top = text.charCodeAt(pos);
  const collected = collector !== null && top === (collector.level === 1 ? LEFT_BRACE : LEFT_BRACKET);
  const collect = collected ? collector : null;
  // The stack depth at which members are taken; -1 (never reached) when none are.
  const level = collect === null ? -1 : collect.level;
  const maxStack = collect === null ? maxDepth : maxDepth + level;
  if (collect === null) recorder.begin(pos);
  let key = '';
  for (;;) {
    const c = text.charCodeAt(pos);
    if (stack.length === level && stack[level - 1]) recorder.begin(pos);
    else if (level === 2 && stack.length === 1 && c !== LEFT_BRACE) collect!.onlyObjects = false;
    if (c === LEFT_BRACE || c === LEFT_BRACKET) {
      if (stack.length >= maxStack) return `nested deeper than ${maxDepth} levels at position ${pos}`;
      const opensObject = c === LEFT_BRACE;
      stack.push(opensObject);
      if (opensObject && stack.length === level) collect!.open();
      pos = space(pos + 1);
      if (text.charCodeAt(pos) === (opensObject ? RIGHT_BRACE : RIGHT_BRACKET)) {
        pos++;
        stack.pop();
      } else if (opensObject) {
        const valueStart = readKey(text, pos, space);
        if (typeof valueStart === 'string') return valueStart;
        if (stack.length === level) key = decodeKey(text, pos);
        pos = valueStart;
        continue;
      } else {
        continue;
      }
    } else if (c === QUOTE) {
      pos = scanString(text, pos);
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      pos = scanNumber(text, pos);
    } else if (c === LOWER_T) {
      pos = text.startsWith('true', pos) ? pos + 4 : ~pos;
    } else if (c === LOWER_F) {
      pos = text.startsWith('false', pos) ? pos + 5 : ~pos;
    } else if (c === LOWER_N) {
      pos = text.startsWith('null', pos) ? pos + 4 : ~pos;
    } else {
      return unexpected(text, pos);
    }
    if (pos < 0) return unexpected(text, ~pos);

    // A value ended at `pos`: close the containers it completes.
    for (;;) {
      if (stack.length === level && recorder.recording) collect!.add(key, recorder.end(pos));
      if (stack.length === 0) {
        const raw = collect === null ? recorder.end(pos) : '';
        if (skipSpace(text, pos) !== length) return unexpected(text, skipSpace(text, pos));
        return { raw, collected };
      }
      pos = space(pos);
      const c = text.charCodeAt(pos);
      const inObject = stack[stack.length - 1]!;
      if (c === COMMA) {
        pos = space(pos + 1);
        if (!inObject) break;
        const valueStart = readKey(text, pos, space);
        if (typeof valueStart === 'string') return valueStart;
        if (stack.length === level) key = decodeKey(text, pos);
        pos = valueStart;
        break;
      }
      if (c !== (inObject ? RIGHT_BRACE : RIGHT_BRACKET)) return unexpected(text, pos);
      pos++;
      stack.pop();
    }
  }
}

/** `"key"` then `:` at `pos`: where the member's value starts. */
function readKey(text: string, pos: number, space: (at: number) => number): number | string {
  if (text.charCodeAt(pos) !== QUOTE) return unexpected(text, pos);
  const keyEnd = scanString(text, pos);
  if (keyEnd < 0) return unexpected(text, ~keyEnd);
  const colon = space(keyEnd);
  if (text.charCodeAt(colon) !== COLON) return unexpected(text, colon);
  return space(colon + 1);
}

/** The key of the (valid) string at `start`, its escapes decoded. */
function decodeKey(text: string, start: number): string {
  const end = scanString(text, start);
  const inner = text.slice(start + 1, end - 1);
  return inner.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : inner;
}

function skipSpace(text: string, pos: number): number {
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c !== SPACE && c !== LINE_FEED && c !== CARRIAGE_RETURN && c !== TAB) return pos;
    pos++;
  }
}

/** The position after the string that opens at `pos`, or `~position` of what is wrong. */
function scanString(text: string, pos: number): number {
  const length = text.length;
  pos++;
  for (;;) {
    if (pos >= length) return ~length;
    const c = text.charCodeAt(pos);
    if (c === QUOTE) return pos + 1;
    if (c === BACKSLASH) {
      const escaped = text.charCodeAt(pos + 1);
      if (escaped === LOWER_U) {
        for (let i = pos + 2; i < pos + 6; i++) {
          if (!isHexDigit(text.charCodeAt(i))) return ~Math.min(i, length);
        }
        pos += 6;
      } else if (isSimpleEscape(escaped)) {
        pos += 2;
      } else {
        return ~Math.min(pos + 1, length);
      }
    } else if (c < SPACE) {
      return ~pos;
    } else {
      pos++;
    }
  }
}

/** `" \ / b f n r t`: the escapes besides \u. */
function isSimpleEscape(c: number): boolean {
  return (
    c === QUOTE ||
    c === BACKSLASH ||
    c === 0x2f ||
    c === 0x62 ||
    c === LOWER_F ||
    c === LOWER_N ||
    c === 0x72 ||
    c === LOWER_T
  );
}

function isHexDigit(c: number): boolean {
  return (c >= DIGIT_0 && c <= DIGIT_9) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= LOWER_F);
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

/** `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, or `~position` of what is wrong. */
function scanNumber(text: string, pos: number): number {
  if (text.charCodeAt(pos) === MINUS) pos++;
  const first = text.charCodeAt(pos);
  if (first === DIGIT_0) pos++;
  else if (first >= DIGIT_1 && first <= DIGIT_9) {
    pos++;
    while (isDigit(text.charCodeAt(pos))) pos++;
  } else return ~pos;
  if (text.charCodeAt(pos) === DOT) {
    pos++;
    if (!isDigit(text.charCodeAt(pos))) return ~pos;
    while (isDigit(text.charCodeAt(pos))) pos++;
  }
  const e = text.charCodeAt(pos);
  if (e === LOWER_E || e === UPPER_E) {
    pos++;
    const sign = text.charCodeAt(pos);
    if (sign === PLUS || sign === MINUS) pos++;
    if (!isDigit(text.charCodeAt(pos))) return ~pos;
    while (isDigit(text.charCodeAt(pos))) pos++;
  }
  return pos;
}

function unexpected(text: string, pos: number): string {
  if (pos >= text.length) return 'unexpected end of input';
  const c = text.charCodeAt(pos);
  // Control and non-ASCII characters by code point: a stray BOM or NUL is invisible as itself.
  const shown =
    c > SPACE && c < 0x7f ? JSON.stringify(text[pos]) : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  return `unexpected ${shown} at position ${pos}`;
}
