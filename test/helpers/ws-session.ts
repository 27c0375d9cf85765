import WebSocket from 'ws';
import { AsyncQueue } from './queue.ts';

export type Frame = Record<string, unknown> & { op: string };

/** A WebSocket client that speaks the command protocol and shows every frame and the close. */
export interface WsSession {
  readonly ws: WebSocket;
  /** Every frame but pings, in order. */
  readonly frames: AsyncQueue<Frame>;
  /** The connection's clientId, from its `connected` frame (rejects if it is refused first). */
  readonly connected: Promise<string>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Sends a command and resolves with its reply, or its error frame. */
  request(command: Record<string, unknown>): Promise<Frame>;
  close(): void;
}

export interface WsSessionOptions {
  readonly headers?: Record<string, string>;
  /** Answer the server's pings (default): a peer that doesn't is cut for its silence. */
  readonly answerPings?: boolean;
}

export function openWsSession(baseUrl: string, options: WsSessionOptions = {}): WsSession {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws`, { headers: options.headers ?? {} });
  const frames = new AsyncQueue<Frame>();
  const replies = new Map<number, (frame: Frame) => void>();
  let nextId = 0;
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const connected = new Promise<string>((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.op === 'ping') {
        if (options.answerPings !== false) ws.send('{"op":"pong"}');
        return;
      }
      if (frame.op === 'connected') resolve(frame.clientId as string);
      if (frame.op === 'error' && frame.id === undefined)
        reject(new Error(`refused: ${JSON.stringify(frame)}`));
      const waiting = typeof frame.id === 'number' ? replies.get(frame.id) : undefined;
      if (waiting) {
        replies.delete(frame.id as number);
        waiting(frame);
      }
      frames.push(frame);
    });
    closed.then(({ code }) => reject(new Error(`closed ${code} before connected`)));
  });
  connected.catch(() => {});
  ws.on('error', () => {});
  return {
    ws,
    frames,
    connected,
    closed,
    async request(command) {
      if (ws.readyState === ws.CONNECTING) await new Promise((resolve) => ws.once('open', resolve));
      const id = ++nextId;
      const reply = new Promise<Frame>((resolve) => replies.set(id, resolve));
      ws.send(JSON.stringify({ id, ...command }));
      return reply;
    },
    close: () => ws.close(),
  };
}
