import { spawn } from 'node:child_process';
import { Server as NetServer, type Server, type Socket } from 'node:net';

/**
 * Why a standalone server listens through several descriptors of its one listening socket.
 *
 * libuv (since 1.45, Node 20) accepts one connection each time epoll reports the listener
 * ready. epoll returns at most 1,024 ready descriptors per call and moves each one it reports
 * to the back of its ready list, so while thousands of long polls are coming back the
 * listener is reported once per pass over all of them: in a reconnect storm of 10,000
 * long-poll clients the kernel's accept queue stayed full while the server accepted a few
 * connections per pass. epoll reports every descriptor of the socket on its own, so each pass
 * accepts as many connections as there are descriptors.
 *
 * Node 20 can neither duplicate a descriptor nor set SO_REUSEPORT, but it can pass a handle to
 * a child process over IPC, and each pass creates a new descriptor at the other end: a child
 * that sends back what it is given returns copies of the same socket. The child never listens
 * or accepts on them; it exits once the copies are back.
 */

/** Extra descriptors: each pass over epoll's ready list then accepts this many more. */
export const LISTENER_COPIES = 7;

/** Sends back every handle it is sent. */
const ECHO_CHILD = "process.on('message', (_m, handle) => { if (handle) process.send('copy', handle); });";

/** A machine that cannot start the child in this time keeps the one descriptor. */
const COPY_TIMEOUT_MS = 5_000;

export interface ListenerCopyOptions {
  readonly copies: number;
  /** The accept queue's length: listen() on a copy sets it for the socket again. */
  readonly backlog: number;
  /** TCP keepalive, as the server sets it on each connection it accepts itself. */
  readonly keepAliveInitialDelayMs: number;
}

/**
 * Listens on copies of `server`'s listening socket and hands every connection they accept to
 * `server`, as its own (`'connection'`, the way Node's HTTP server takes injected sockets).
 * Close the copies before the server. Rejects when the copies can't be made; the server then
 * goes on with its one descriptor.
 */
export async function listenOnCopies(server: Server, options: ListenerCopyOptions): Promise<NetServer[]> {
  const handle = (server as unknown as { _handle?: unknown })._handle;
  if (options.copies <= 0 || !handle) return [];
  const copies = await copiesOf(handle, options.copies);
  const listening: NetServer[] = [];
  try {
    for (const copy of copies) listening.push(await listenOn(copy, server, options));
  } catch (error) {
    for (const extra of listening) extra.close();
    for (const copy of copies.slice(listening.length + 1)) (copy as { close(): void }).close();
    throw error;
  }
  return listening;
}

function listenOn(copy: unknown, server: Server, options: ListenerCopyOptions): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    // No Nagle delay, as Node's HTTP server sets on the connections it accepts.
    const extra = new NetServer({
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: options.keepAliveInitialDelayMs,
    });
    extra.on('connection', (socket: Socket) => server.emit('connection', socket));
    extra.once('error', reject);
    extra.listen(copy as never, options.backlog, () => {
      extra.off('error', reject);
      // A failed accept is the server's to report, as for its own descriptor.
      extra.on('error', (error) => server.emit('error', error));
      resolve(extra);
    });
  });
}

function copiesOf(handle: unknown, count: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ECHO_CHILD], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      // Whatever the server was started with (--import, --inspect) has no business here.
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const copies: unknown[] = [];
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.connected) child.disconnect();
      if (error === null) {
        // The server is ready only once the helper is gone: no stray child left behind it.
        if (child.exitCode !== null || child.signalCode !== null) return resolve(copies);
        const stray = setTimeout(() => child.kill(), COPY_TIMEOUT_MS);
        child.once('exit', () => {
          clearTimeout(stray);
          resolve(copies);
        });
        return;
      }
      for (const copy of copies) (copy as { close(): void }).close();
      child.kill();
      reject(error);
    };
    const timer = setTimeout(
      () => settle(new Error(`no copies within ${COPY_TIMEOUT_MS} ms`)),
      COPY_TIMEOUT_MS,
    );
    child.on('message', (_message, copy) => {
      if (copy === undefined) return;
      // One that comes back after a timeout is still a descriptor of the socket: close it.
      if (settled) return (copy as { close(): void }).close();
      copies.push(copy);
      if (copies.length === count) settle(null);
    });
    child.on('error', settle);
    child.on('exit', (code, signal) => settle(new Error(`the copying process ended (${signal ?? code})`)));
    for (let i = 0; i < count; i++) child.send('copy', handle as never);
  });
}
