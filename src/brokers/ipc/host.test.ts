import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication } from '../../protocol/index.ts';
import { IpcBroker, type IpcLink } from './broker.ts';
import { BrokerHost, type HostPort } from './host.ts';
import type { HostMessage } from './messages.ts';

const OPTIONS = { historySize: 10, historyTtlMs: null };

/** A worker process as the host sees it, wired in this process; counts what the host sent it. */
function worker(host: BrokerHost) {
  const listeners = new Set<(message: unknown) => void>();
  const received: HostMessage[] = [];
  // Messages cross as they would over IPC: serialized, and later.
  const port: HostPort = {
    send(message) {
      received.push(message);
      const copy = JSON.parse(JSON.stringify(message)) as unknown;
      setImmediate(() => {
        for (const listener of listeners) listener(copy);
      });
    },
  };
  const link: IpcLink = {
    send(message) {
      const copy = JSON.parse(JSON.stringify(message)) as unknown;
      setImmediate(() => host.receive(port, copy));
    },
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return { port, link, received };
}

async function started(link: IpcLink) {
  const got: Publication[] = [];
  const broker = new IpcBroker({ link });
  await broker.start({ publication: (p) => got.push(p), recovered: () => {} });
  return { broker, got };
}

test('a publication crosses to each interested worker once, whatever the number of its brokers', async () => {
  const host = new BrokerHost();
  await host.start();
  const a = worker(host);
  const b = worker(host);
  const idle = worker(host);
  const a1 = await started(a.link);
  const a2 = await started(a.link);
  const b1 = await started(b.link);
  const other = await started(idle.link);
  for (const { broker } of [a1, a2, b1]) await broker.subscribe('room');
  await other.broker.subscribe('elsewhere');

  const published = await b1.broker.publish('room', '"hi"', OPTIONS);
  const until = Date.now() + 5000;
  while ([a1, a2, b1].some(({ got }) => got.length === 0) && Date.now() < until) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const { got } of [a1, a2, b1]) assert.deepEqual(got, [published]);
  const publications = (w: { received: HostMessage[] }) => w.received.filter((m) => m.pw === 'publication');
  assert.equal(publications(a).length, 1, 'one message to the worker with two brokers');
  assert.equal(publications(b).length, 1);
  assert.equal(publications(idle).length, 0, 'nothing to a worker that follows no such channel');

  // A worker that is gone takes its subscriptions along; the channel's stream stays.
  host.portGone(a.port);
  const next = await b1.broker.publish('room', '"again"', OPTIONS);
  assert.equal(next.offset, published.offset + 1);
  assert.equal(publications(a).length, 1);
  for (const { broker } of [a1, a2, b1, other]) await broker.close();
  await host.close();
});
