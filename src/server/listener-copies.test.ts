import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { listenerDescriptors } from '../../test/helpers/listeners.ts';
import { listenOnCopies } from './listener-copies.ts';

function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

function roundTrip(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    let got = '';
    socket.on('data', (chunk: string) => {
      got += chunk;
    });
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

const OPTIONS = { backlog: 511, keepAliveInitialDelayMs: 30_000 } as const;

test('copies of a listening socket accept for its server, which sees every connection as its own', {
  skip: process.platform !== 'linux' && 'reads /proc',
}, async () => {
  const { server, port } = await listening();
  let served = 0;
  server.on('connection', (socket: Socket) => {
    served += 1;
    socket.end('hello');
  });
  const copies = await listenOnCopies(server, { ...OPTIONS, copies: 3 });
  let viaCopies = 0;
  for (const copy of copies) {
    copy.on('connection', () => {
      viaCopies += 1;
    });
  }
  try {
    assert.equal(copies.length, 3);
    assert.equal(listenerDescriptors('self', port), 4);
    const answers = await Promise.all(Array.from({ length: 200 }, () => roundTrip(port)));
    assert.ok(answers.every((answer) => answer === 'hello'));
    assert.equal(served, 200);
    // A burst is accepted through every descriptor, not only the server's own.
    assert.ok(viaCopies > 0, `${viaCopies} of 200 through the copies`);
  } finally {
    for (const copy of copies) copy.close();
    server.close();
  }
  assert.equal(listenerDescriptors('self', port), 0);
});

test('no copies of a server that is not listening, nor when none are asked for', async () => {
  assert.deepEqual(await listenOnCopies(createServer(), { ...OPTIONS, copies: 3 }), []);
  const { server } = await listening();
  try {
    assert.deepEqual(await listenOnCopies(server, { ...OPTIONS, copies: 0 }), []);
  } finally {
    server.close();
  }
});
