import { SignJWT } from 'jose';
import WebSocket from 'ws';

export const TOKEN_SECRET = 'an-admin-test-secret-long-enough-for-hs256';
export const ADMIN_KEY = 'admin-test-key-0123456789';

/** A connection token for `user` (HS256 with TOKEN_SECRET) that reads every channel, issued now. */
export function userToken(user: string): Promise<string> {
  return new SignJWT({ channels: ['**'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TOKEN_SECRET));
}

/** Calls an admin route with `key` (the admin key by default); the JSON body and status. */
export async function adminCall(
  base: string,
  path: string,
  init: { method?: string; body?: unknown; key?: string | null } = {},
): Promise<{
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
}> {
  const key = init.key === undefined ? ADMIN_KEY : init.key;
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(key === null ? {} : { Authorization: `Bearer ${key}` }),
      'Content-Type': 'application/json',
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Polls `check` until it holds; fails after `timeoutMs` (a failure bound, not a wait). */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    const value = await check();
    if (value) return value;
    last = value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A text stream (SSE or NDJSON) read as it comes: its head, its text so far, its end. */
export interface TextStream {
  readonly status: number;
  text(): string;
  /** Resolves once the text contains `needle`. */
  until(needle: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the whole text when the server ends the response. */
  readonly ended: Promise<string>;
  close(): void;
}

export async function openTextStream(url: string): Promise<TextStream> {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  let text = '';
  let wake: () => void = () => {};
  const ended = (async () => {
    if (!response.body) return text;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        text += decoder.decode(chunk as Uint8Array, { stream: true });
        wake();
      }
    } catch {
      // aborted by close()
    }
    wake();
    return text;
  })();
  return {
    status: response.status,
    text: () => text,
    async until(needle, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      while (!text.includes(needle)) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${needle} in ${JSON.stringify(text)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
    ended,
    close: () => abort.abort(),
  };
}

/** Settles like `work`, or fails naming `what` after `ms`: a test fails rather than hangs. */
export function within<T>(work: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** A WebSocket subscribed to `channel`: its clientId, and its close code when it ends. */
export async function openSocket(
  base: string,
  channel: string,
  token?: string,
): Promise<{ clientId: string; closed: Promise<number>; frames: string[]; close(): void }> {
  const url = `${base.replace(/^http/, 'ws')}/ws${token ? `?token=${token}` : ''}`;
  const ws = new WebSocket(url);
  const frames: string[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', () => {});
  const subscribed = new Promise<string>((resolve, reject) => {
    ws.on('message', (data) => {
      const text = String(data);
      frames.push(text);
      const frame = JSON.parse(text) as { op: string; clientId?: string; id?: number };
      if (frame.op === 'connected') ws.send(JSON.stringify({ id: 1, op: 'subscribe', channel }));
      if (frame.op === 'reply' && frame.id === 1)
        resolve(frames.map((f) => JSON.parse(f)).find((f) => f.op === 'connected').clientId);
      if (frame.op === 'error') reject(new Error(text));
    });
    closed.then((code) => reject(new Error(`closed ${code}`)));
  });
  let clientId: string;
  try {
    clientId = await within(subscribed, `a subscribed WebSocket on ${channel}`);
  } catch (error) {
    ws.terminate();
    throw error;
  }
  return {
    clientId,
    // Timed only when awaited, so that a socket a test leaves open is no failure.
    get closed() {
      return within(closed, 'the WebSocket to close', 30_000);
    },
    frames,
    close: () => ws.terminate(),
  };
}
