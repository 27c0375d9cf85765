import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from './ports.ts';

/** The shared Redis of the test run (REDIS_URL); tests isolate themselves by key prefix. */
export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `pwtest-${randomBytes(6).toString('hex')}`;
}

/** Deletes every key under `prefix` (hash-tagged `{prefix:...}` as the Redis broker names them). */
export async function cleanPrefix(prefix: string, url: string = redisUrl()): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const pattern of [`{${prefix}:*`, `${prefix}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        // One key per command: in a Redis Cluster a command's keys must share a slot.
        if (keys.length > 0) await redis.pipeline(keys.map((key) => ['unlink', key])).exec();
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** The PID of the current redis-server process (a restart changes it). */
  readonly pid: number;
  /** Stops the server (SIGTERM by PID) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and starts a fresh one on the same port: all data is gone (no persistence). */
  restart(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const REDIS_MISSING = 'redis-server is not on PATH; install it: apt-get install -y redis-server';

/** Starts redis-server in the foreground and resolves once its log says it accepts connections. */
async function spawnRedis(
  port: number,
  extraArgs: readonly string[],
  password?: string,
): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`redis-server :${port} not ready:\n${log}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    const onExit = (code: number | null): void => fail(new Error(`redis-server exited (${code}):\n${log}`));
    const onError = (error: NodeJS.ErrnoException): void =>
      fail(error.code === 'ENOENT' ? new Error(REDIS_MISSING) : error);
    function fail(error: Error): void {
      clearTimeout(timer);
      child.off('exit', onExit);
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
      reject(error);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  // Keep draining its output so a chatty server never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  const ping = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await ping.connect();
    if ((await ping.ping()) !== 'PONG') throw new Error(`redis-server :${port} did not answer PING`);
  } finally {
    ping.disconnect();
  }
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid!, 'SIGTERM');
  await exited;
}

/**
 * A redis-server of the test's own, for tests that kill or restart Redis (never the shared
 * one). `extraArgs` go to redis-server (e.g. `--cluster-enabled yes`); with `password` it
 * requires AUTH, and `url` carries the password.
 */
export async function startPrivateRedis(
  extraArgs: readonly string[] = [],
  { password }: { password?: string } = {},
): Promise<PrivateRedis> {
  const port = await freePort();
  const args = password === undefined ? extraArgs : [...extraArgs, '--requirepass', password];
  let child = await spawnRedis(port, args, password);
  return {
    url: `redis://${password === undefined ? '' : `:${encodeURIComponent(password)}@`}127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!;
    },
    stop: () => stopChild(child),
    async restart() {
      await stopChild(child);
      child = await spawnRedis(port, args, password);
    },
  };
}

/**
 * A one-node Redis Cluster of the test's own (all 16384 slots on one node): enough to run
 * every script and sharded pub/sub through ioredis's cluster client, and Redis refuses a
 * command whose keys span slots even on one node. Stop it with `stop()`.
 */
export async function startOneNodeCluster(): Promise<PrivateRedis & { cleanup(): Promise<void> }> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'pushwire-cluster-'));
  const server = await startPrivateRedis([
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, 'nodes.conf'),
    '--dir',
    dir,
    // Alone, a node doesn't know its own address and reports its slots as served by "".
    '--cluster-announce-ip',
    '127.0.0.1',
  ]);
  const admin = new Redis(server.url);
  try {
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    const deadline = Date.now() + 5000;
    while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      if (Date.now() > deadline) throw new Error('the one-node cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    admin.disconnect();
  }
  return {
    ...server,
    url: server.url,
    port: server.port,
    get pid() {
      return server.pid;
    },
    async cleanup() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
