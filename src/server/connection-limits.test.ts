import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { addressKey, ConnectionLimits } from './connection-limits.ts';

const refusals: string[] = [];
const limits = (
  trustProxy: string[],
  maxConnectionsPerIp: number | null = 2,
  maxConnections: number | null = 10,
) =>
  new ConnectionLimits({
    maxConnections,
    maxConnectionsPerIp,
    trustProxy,
    refused: (reason) => void refusals.push(reason),
  });

function socketFrom(remoteAddress: string): Socket {
  return Object.assign(new EventEmitter(), { remoteAddress }) as unknown as Socket;
}

function request(peer: string, forwardedFor?: string | string[]): IncomingMessage {
  return {
    socket: socketFrom(peer),
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
}

test('X-Forwarded-For is believed only from a trusted proxy, read from the right', () => {
  const behind = limits(['10.0.0.0/8', '::1']);
  assert.equal(behind.clientAddress(request('203.0.113.5', '198.51.100.1')), '203.0.113.5');
  assert.equal(behind.clientAddress(request('10.1.2.3', '198.51.100.1')), '198.51.100.1');
  // The client wrote the leftmost entries itself: only what our proxies added counts.
  assert.equal(behind.clientAddress(request('10.1.2.3', '6.6.6.6, 198.51.100.1')), '198.51.100.1');
  assert.equal(behind.clientAddress(request('10.1.2.3', '6.6.6.6, 198.51.100.1, 10.9.9.9')), '198.51.100.1');
  assert.equal(behind.clientAddress(request('::ffff:10.1.2.3', ['198.51.100.1'])), '198.51.100.1');
  // Junk where our proxy's entry should be: the proxy itself is the best we know.
  assert.equal(behind.clientAddress(request('10.1.2.3', 'junk')), '10.1.2.3');
  assert.equal(behind.clientAddress(request('10.1.2.3')), '10.1.2.3');
  assert.equal(limits([]).clientAddress(request('10.1.2.3', '198.51.100.1')), '10.1.2.3');
});

test('connections count per address until they close; over a cap they are refused', () => {
  const capped = limits([], 2, 3);
  const a = [socketFrom('192.0.2.1'), socketFrom('::ffff:192.0.2.1'), socketFrom('192.0.2.1')];
  assert.equal(capped.accept(a[0]!), null);
  assert.equal(capped.accept(a[1]!), null);
  assert.equal(capped.accept(a[2]!)?.code, 'too_many_connections');
  assert.equal(capped.accept(socketFrom('192.0.2.2'))?.code, 'too_many_connections');
  assert.deepEqual(refusals.splice(0), ['max_connections_per_ip', 'max_connections']);
  for (const socket of a) socket.emit('close');
  assert.equal(capped.connections, 1);
  assert.equal(capped.accept(socketFrom('192.0.2.1')), null);
});

test("a proxy's connections count in the total only; its requests count per forwarded client", () => {
  const behind = limits(['10.0.0.1'], 1, null);
  for (let i = 0; i < 5; i++) assert.equal(behind.accept(socketFrom('10.0.0.1')), null);
  const releases: (() => void)[] = [];
  const admit = (client: string) =>
    behind.admit(request('10.0.0.1', client), (release) => releases.push(release));
  assert.equal(admit('198.51.100.1'), null);
  assert.equal(admit('198.51.100.1')?.code, 'too_many_connections');
  assert.equal(admit('198.51.100.2'), null);
  for (const release of releases.splice(0)) release();
  assert.equal(admit('198.51.100.1'), null);
  // Requests straight from a client were counted with their connection.
  assert.equal(
    behind.admit(request('192.0.2.9', '198.51.100.1'), () => {}),
    null,
  );
});

test('IPv6 addresses are counted by their /64, IPv4 addresses one by one', () => {
  assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  const capped = limits([], 1, null);
  assert.equal(capped.accept(socketFrom('2001:db8:1:2::1')), null);
  assert.equal(capped.accept(socketFrom('2001:db8:1:2::2'))?.code, 'too_many_connections');
  assert.equal(capped.accept(socketFrom('2001:db8:1:3::1')), null);
});
