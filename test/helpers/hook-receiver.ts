import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a hook receiver got, as it came. */
export interface HookCall {
  readonly path: string;
  readonly raw: string;
  readonly body: Record<string, unknown>;
  /** Whether its Pushwire-Signature verified with the receiver's secret. */
  readonly signed: boolean;
}

/** A lifecycle event as a receiver sees it in `{"events":[…]}`. */
export interface ReceivedEvent {
  readonly id: string;
  readonly type: string;
  readonly time: number;
  readonly node: string;
  readonly clientId: string | null;
  readonly user: string | null;
  readonly channel: string | null;
  readonly clientSeq: number | null;
  readonly channelSeq: number | null;
  readonly reason?: string;
  readonly code?: string | null;
  readonly transport?: string;
}

export interface HookAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly delayMs?: number;
}

export interface HookReceiver {
  readonly url: string;
  readonly port: number;
  /** Every request, in the order they came. */
  readonly calls: HookCall[];
  /**
   * The events of every batch answered with a 2xx, in the order they came, each id once:
   * delivery is at least once (a batch whose answer came after the sender's timeout comes
   * again), and docs/hooks.md tells receivers to deduplicate on `id`, as this one does.
   */
  readonly events: ReceivedEvent[];
  /** Events that came again after they had been taken. */
  redelivered: number;
  /** How the next request is answered; 200 `{}` by default. */
  answer: (call: HookCall) => HookAnswer;
  /** Resolves once `match` holds for the events taken so far (checked as batches come). */
  until(
    match: (events: readonly ReceivedEvent[]) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<void>;
  close(): Promise<void>;
}

/** What docs/hooks.md tells a receiver to do, written again here so that the test checks the server. */
function verified(secret: string, header: string | undefined, raw: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  if (Math.abs(Date.now() / 1000 - Number(match[1])) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}

/** A plain node:http receiver of Pushwire's hooks on a loopback port (`port`, or any free one). */
export async function startHookReceiver(secret: string, port = 0): Promise<HookReceiver> {
  const waiters = new Set<() => void>();
  const seen = new Set<string>();
  const receiver: HookReceiver = {
    url: '',
    port: 0,
    calls: [],
    events: [],
    redelivered: 0,
    answer: () => ({ status: 200, body: {} }),
    until(match, timeoutMs = 10_000, what = 'the expected events') {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!match(receiver.events)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(receiver.events.map((e) => `${e.type} ${e.clientId ?? e.channel}`))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const call: HookCall = {
        path: req.url ?? '',
        raw,
        body: JSON.parse(raw) as Record<string, unknown>,
        signed: verified(secret, req.headers['pushwire-signature'] as string | undefined, raw),
      };
      receiver.calls.push(call);
      const { status, body, delayMs = 0 } = receiver.answer(call);
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(body === undefined ? '' : JSON.stringify(body));
        if (status >= 200 && status < 300 && Array.isArray(call.body.events)) {
          for (const event of call.body.events as ReceivedEvent[]) {
            if (seen.has(event.id)) {
              receiver.redelivered += 1;
              continue;
            }
            seen.add(event.id);
            receiver.events.push(event);
          }
          for (const check of [...waiters]) check();
        }
      }, delayMs);
    });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const bound = (server.address() as AddressInfo).port;
  Object.assign(receiver, { port: bound, url: `http://127.0.0.1:${bound}` });
  return receiver;
}

/** The events of one client, in the order they came. */
export function eventsOf(events: readonly ReceivedEvent[], clientId: string): ReceivedEvent[] {
  return events.filter((event) => event.clientId === clientId);
}
