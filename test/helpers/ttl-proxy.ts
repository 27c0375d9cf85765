import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** The TTL proxy's scripts: shared/ttl-proxy beside the checkout, or PUSHWIRE_TEST_TTL_PROXY. */
export function ttlProxyDir(): string {
  return process.env.PUSHWIRE_TEST_TTL_PROXY ?? resolve(root, '../shared/ttl-proxy');
}

export function ttlProxyAvailable(): boolean {
  return existsSync(resolve(ttlProxyDir(), 'start.sh'));
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface TtlProxy {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** nginx in front of `upstreamPort` that cuts any connection idle for `idleSeconds`. */
export async function startTtlProxy(upstreamPort: number, idleSeconds: number): Promise<TtlProxy> {
  const port = await freePort();
  const dir = ttlProxyDir();
  const { stdout } = await run('bash', [
    resolve(dir, 'start.sh'),
    String(port),
    String(upstreamPort),
    String(idleSeconds),
  ]);
  const pid = stdout.trim();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      await run('bash', [resolve(dir, 'stop.sh'), pid]);
    },
  };
}
