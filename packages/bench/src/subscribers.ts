import { type Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import WebSocket from 'ws';
import type { SubscribeTarget } from './wire.ts';

/**
 * Raw subscriber clients for the load generator: the `ws` package and bare `node:http`, no
 * SDK, so that one generator process carries thousands of connections cheaply. Each one
 * reports the text that holds messages (one or several) and leaves reading it to the caller.
 */
export interface SubscriberEvents {
  /** The subscription is live: messages published from now on will arrive. */
  ready(): void;
  /** Text holding one or more benchmark messages. */
  messages(text: string): void;
  /** The connection ended or failed (never called after `close()`). */
  closed(reason: string): void;
}

export interface Subscriber {
  /** Ends the connection at once (no `closed` event for it). */
  close(): void;
  /**
   * Opens a new connection (after `close()`) that resumes from the cursor of the last message
   * (`target.resume`); `ready` fires again when it is live.
   */
  reconnect(): void;
}

export interface SubscriberOptions {
  readonly localAddress: string;
  /** Keep-alive agent for long polls (request after request on one socket). */
  readonly pollAgent: Agent;
}

/** One open connection of a subscriber. */
interface Connection {
  close(): void;
}

export function openSubscriber(
  target: SubscribeTarget,
  options: SubscriberOptions,
  events: SubscriberEvents,
): Subscriber {
  let cursor: string | null = null;
  const tracked: SubscriberEvents = target.resume
    ? {
        ready: () => events.ready(),
        closed: (reason) => events.closed(reason),
        messages(text) {
          cursor = lastCursor(text, target.transport) ?? cursor;
          events.messages(text);
        },
      }
    : events;
  let connection = connect(target, options, tracked, null);
  return {
    close: () => connection.close(),
    reconnect() {
      connection = connect(target, options, tracked, cursor);
    },
  };
}

function connect(
  target: SubscribeTarget,
  options: SubscriberOptions,
  events: SubscriberEvents,
  cursor: string | null,
): Connection {
  switch (target.transport) {
    case 'ws':
      return openWebSocket(target, options, events, cursor);
    case 'sse':
      return openEventStream(target, options, events, 'sse', cursor);
    case 'stream':
      return openEventStream(target, options, events, 'stream', cursor);
    case 'poll':
      return target.dialect === 'nchan'
        ? openNchanPoll(target, options, events)
        : openPushwirePoll(target, options, events, cursor);
  }
}

/**
 * The cursor a message text ends on: its SSE `id:`, else the last `"cursor":"..."` (on a
 * long-poll body that is the top-level one, after the messages).
 */
function lastCursor(text: string, transport: SubscribeTarget['transport']): string | null {
  if (transport === 'sse') return headerValue(text, 'id: ') ?? null;
  const at = text.lastIndexOf('"cursor":"');
  return at === -1 ? null : text.slice(at + 10, text.indexOf('"', at + 10));
}

function subscribeUrl(target: SubscribeTarget, path: string): string {
  const channel = encodeURIComponent(target.channel);
  if (target.dialect === 'nchan') return `${target.baseUrl}/sub/${channel}`;
  return `${target.baseUrl}${path}?channel=${channel}`;
}

function openWebSocket(
  target: SubscribeTarget,
  options: SubscriberOptions,
  events: SubscriberEvents,
  cursor: string | null,
): Connection {
  const base = target.baseUrl.replace(/^http/, 'ws');
  const url =
    target.dialect === 'socketio'
      ? `${base}/socket.io/?EIO=4&transport=websocket&channel=${encodeURIComponent(target.channel)}`
      : target.dialect === 'nchan'
        ? subscribeUrl({ ...target, baseUrl: base }, '')
        : `${base}/ws`;
  // `ws+meta.nchan` makes Nchan prefix each message with its `id:` (see emitNchan).
  const protocols = target.dialect === 'nchan' ? ['ws+meta.nchan'] : [];
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, localAddress: options.localAddress });
  let closing = false;
  ws.on('open', () => {
    if (target.dialect === 'pushwire') {
      const command = { id: 1, op: 'subscribe', channel: target.channel };
      ws.send(JSON.stringify(cursor === null ? command : { ...command, cursor }));
    } else if (target.dialect === 'nchan') events.ready();
  });
  ws.on('message', (raw) => {
    const text = String(raw);
    if (target.dialect === 'socketio') return onSocketIoPacket(ws, text, events);
    if (target.dialect === 'nchan') return emitNchan(events, text, headerValue(text, 'id: '));
    if (text.startsWith('{"op":"message"')) return events.messages(text);
    if (text.startsWith('{"op":"ping"')) return ws.send('{"op":"pong"}');
    if (text.includes('"op":"reply"')) return events.ready();
    if (text.includes('"op":"error"')) ws.terminate();
  });
  ws.on('error', (error) => {
    if (!closing) events.closed(`ws error: ${error.message}`);
    closing = true;
  });
  ws.on('close', (code) => {
    if (!closing) events.closed(`ws closed ${code}`);
    closing = true;
  });
  return {
    close() {
      closing = true;
      ws.terminate();
    },
  };
}

/** Engine.IO v4 packet types: 0 open, 2 ping, 3 pong, 4 message; then Socket.IO 0 connect, 2 event. */
function onSocketIoPacket(ws: WebSocket, text: string, events: SubscriberEvents): void {
  if (text.startsWith('42')) events.messages(text);
  else if (text === '2') ws.send('3');
  else if (text.startsWith('0')) ws.send('40');
  else if (text.startsWith('40')) events.ready();
  else if (text.startsWith('44')) ws.terminate();
}

/** SSE (`text/event-stream`) or NDJSON (`application/x-ndjson`) over one long response. */
function openEventStream(
  target: SubscribeTarget,
  options: SubscriberOptions,
  events: SubscriberEvents,
  kind: 'sse' | 'stream',
  cursor: string | null,
): Connection {
  const headers = kind === 'sse' ? { Accept: 'text/event-stream' } : { Accept: 'application/x-ndjson' };
  const resume = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
  const req = request(subscribeUrl(target, kind === 'sse' ? '/sse' : '/stream') + resume, {
    headers,
    agent: false,
    localAddress: options.localAddress,
  });
  let closing = false;
  const fail = (reason: string) => {
    if (!closing) events.closed(reason);
    closing = true;
  };
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      fail(`HTTP ${res.statusCode}`);
      return;
    }
    if (target.dialect === 'nchan') events.ready();
    res.setEncoding('utf8');
    let buffer = '';
    const separator = kind === 'sse' ? '\n\n' : '\n';
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf(separator);
      if (end === -1) return;
      let start = 0;
      while (end !== -1) {
        const block = buffer.slice(start, end);
        if (target.dialect === 'nchan') emitNchan(events, block, headerValue(block, 'id: '));
        else if (kind === 'sse') onSseEvent(block, events);
        else onStreamLine(block, events);
        start = end + separator.length;
        end = buffer.indexOf(separator, start);
      }
      buffer = buffer.slice(start);
    });
    res.on('end', () => fail('response ended'));
    res.on('error', (error) => fail(error.message));
  });
  req.on('error', (error) => fail(error.message));
  req.end();
  return {
    close() {
      closing = true;
      req.destroy();
    },
  };
}

function onSseEvent(block: string, events: SubscriberEvents): void {
  // Messages use the default event type; named events are control events.
  const named = block.startsWith('event:') || block.includes('\nevent:');
  if (named) {
    if (block.includes('event: connected')) events.ready();
    return;
  }
  if (block.includes('data:')) events.messages(block);
}

function onStreamLine(line: string, events: SubscriberEvents): void {
  if (line.startsWith('{"op":"message"')) events.messages(line);
  else if (line.startsWith('{"op":"connected"')) events.ready();
}

/**
 * Pushwire long poll: the first poll returns the cursor at once, then each one is held. One
 * resuming from `resumeFrom` is held from the start: it is live when its first answer comes.
 * Polls ask for messages without their cursors (`cursors=0`), as the SDK's do.
 */
function openPushwirePoll(
  target: SubscribeTarget,
  options: SubscriberOptions,
  events: SubscriberEvents,
  resumeFrom: string | null,
): Connection {
  let closing = false;
  let current: ClientRequest | null = null;
  let first = true;
  const poll = (cursor: string | null) => {
    const url =
      subscribeUrl(target, '/poll') +
      (cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}&cursors=0`);
    current = getText(url, options, {}, (error, res, body) => {
      if (closing) return;
      if (error || !res || res.statusCode !== 200) {
        closing = true;
        events.closed(error ? error.message : `HTTP ${res?.statusCode}`);
        return;
      }
      const next = readCursor(body);
      if (first) events.ready();
      first = false;
      if (cursor !== null && body.includes('"seq":')) events.messages(body);
      poll(next);
    });
  };
  poll(resumeFrom);
  return {
    close() {
      closing = true;
      current?.destroy();
    },
  };
}

/** The top-level `"cursor"`: the last one in the body, after the messages array. */
function readCursor(body: string): string {
  const at = body.lastIndexOf('"cursor":"');
  return at === -1 ? '' : body.slice(at + 10, body.indexOf('"', at + 10));
}

/** Nchan long poll: the next message after the one named by Last-Modified + Etag. */
function openNchanPoll(
  target: SubscribeTarget,
  options: SubscriberOptions,
  events: SubscriberEvents,
): Connection {
  let closing = false;
  let current: ClientRequest | null = null;
  const poll = (lastModified: string | undefined, etag: string | undefined) => {
    const headers: Record<string, string> = {};
    if (lastModified !== undefined) headers['If-Modified-Since'] = lastModified;
    if (etag !== undefined) headers['If-None-Match'] = etag;
    current = getText(subscribeUrl(target, ''), options, headers, (error, res, body) => {
      if (closing) return;
      if (error || !res || (res.statusCode !== 200 && res.statusCode !== 304 && res.statusCode !== 408)) {
        closing = true;
        events.closed(error ? error.message : `HTTP ${res?.statusCode}`);
        return;
      }
      // Last-Modified (seconds) + Etag (tag) are the id of the last message of the body.
      const modified = header(res, 'last-modified');
      if (res.statusCode === 200 && modified !== undefined) {
        emitNchan(events, body, `${Date.parse(modified) / 1000}:${header(res, 'etag') ?? '0'}`);
      }
      poll(header(res, 'last-modified') ?? lastModified, header(res, 'etag') ?? etag);
    });
  };
  poll(undefined, undefined);
  // Nchan holds the first request until a message comes: the parent confirms the subscription
  // from the channel's subscriber count instead.
  events.ready();
  return {
    close() {
      closing = true;
      current?.destroy();
    },
  };
}

/**
 * Nchan assigns no offset, but every message has an id `SECONDS:TAG` (the tag counts messages
 * within that second), in the order Nchan took them. This prefixes each message of `text`
 * (one per line) with `"offset":KEY,`, KEY rising with the id, so it is read like an offset.
 * When one long-poll body holds several messages, `id` is the last one's and those before it
 * get smaller keys in their order in the body.
 */
function emitNchan(events: SubscriberEvents, text: string, id: string | undefined): void {
  const lines = text.split('\n').filter((line) => line.includes('"seq":'));
  if (lines.length === 0) return;
  const [seconds, tag] = (id ?? '').split(':');
  // Seconds modulo 10^6 keep the key a safe integer (it wraps every 11.5 days, not in a run).
  const key = (Number(seconds) % 1e6) * 1e9 + Number(tag) * 1000;
  events.messages(lines.map((line, i) => `"offset":${key - (lines.length - 1 - i)},${line}`).join('\n'));
}

function headerValue(block: string, name: string): string | undefined {
  const at = block.startsWith(name) ? 0 : block.indexOf(`\n${name}`) + 1;
  if (at === 0 && !block.startsWith(name)) return undefined;
  const end = block.indexOf('\n', at);
  return block.slice(at + name.length, end === -1 ? undefined : end).trim();
}

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function getText(
  url: string,
  options: SubscriberOptions,
  headers: Record<string, string>,
  done: (error: Error | null, res: IncomingMessage | null, body: string) => void,
): ClientRequest {
  const req = request(url, { headers, agent: options.pollAgent, localAddress: options.localAddress });
  req.on('response', (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      body += chunk;
    });
    res.on('end', () => done(null, res, body));
    res.on('error', (error) => done(error, null, ''));
  });
  req.on('error', (error) => done(error, null, ''));
  req.end();
  return req;
}
