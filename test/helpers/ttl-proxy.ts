import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants, readdirSync, readFileSync, rmSync } from 'node:fs';
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { accepts, freePort } from './ports.ts';
import { type Component, component } from './requirements.ts';

const TEMPLATE = new URL('../fixtures/ttl-proxy/nginx.conf.template', import.meta.url);
const START_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 5000;
const PORT_ATTEMPTS = 3;

export interface TtlProxy {
  readonly url: string;
  readonly port: number;
  /** The nginx master's PID (`SIGHUP` reloads it: graceful worker replacement). */
  readonly pid: number;
  /** Stops nginx by its PID and removes its temp dir; safe to call twice. */
  stop(): Promise<void>;
}

/** nginx: the binary PUSHWIRE_TEST_NGINX names, else the first `nginx` on PATH; null if none. */
export async function findNginx(): Promise<string | null> {
  const candidates = process.env.PUSHWIRE_TEST_NGINX
    ? [process.env.PUSHWIRE_TEST_NGINX]
    : (process.env.PATH ?? '').split(delimiter).flatMap((dir) => (dir ? [join(dir, 'nginx')] : []));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

const NGINX_MISSING = process.env.PUSHWIRE_TEST_NGINX
  ? `no executable at PUSHWIRE_TEST_NGINX=${process.env.PUSHWIRE_TEST_NGINX}`
  : // Debian installs it in /usr/sbin, which a non-root PATH may lack.
    'not on PATH (Debian puts it in /usr/sbin; or set PUSHWIRE_TEST_NGINX)';

/**
 * The TTL proxy, usable when nginx is found and a proxy actually starts and stops here (a
 * config this nginx rejects, or a prefix its workers can't enter, shows up now, not mid-test).
 */
export const TTL_PROXY: Component = component('nginx', 'apt-get install -y nginx', async () => {
  if (!(await findNginx())) return NGINX_MISSING;
  try {
    // Nothing needs to listen upstream: nginx connects to it per request.
    const proxy = await startTtlProxy(await freePort(), 1);
    await proxy.stop();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
});

/**
 * nginx in front of 127.0.0.1:`upstreamPort` that cuts any response idle for `idleSeconds`,
 * on a port of its own: its own config, logs and temp files in a fresh temp dir (`-p`, `-c`).
 */
export async function startTtlProxy(upstreamPort: number, idleSeconds: number): Promise<TtlProxy> {
  const nginx = await findNginx();
  if (!nginx) throw new Error(NGINX_MISSING);
  for (let attempt = 1; ; attempt++) {
    // Another process may take the free port before nginx binds it: then try another one.
    const port = await freePort();
    try {
      return await launch(nginx, port, upstreamPort, idleSeconds);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}

class PortTaken extends Error {}

/** Proxies a test forgot to stop die with the test process rather than outlive it. */
const running = new Map<number, string>();
process.once('exit', () => {
  for (const [pid, dir] of running) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

async function launch(
  nginx: string,
  port: number,
  upstreamPort: number,
  idleSeconds: number,
): Promise<TtlProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'pushwire-ttl-proxy-'));
  // Started as root, nginx runs its workers as an unprivileged user, who must enter the dir.
  await chmod(dir, 0o755);
  await writeConfig(dir, port, upstreamPort, idleSeconds);
  // -e: Debian's nginx would otherwise log to /var/log/nginx before it has read the config.
  const child = spawn(nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  let ended: string | null = null;
  child.once('error', (error) => {
    ended ??= error.message;
  });
  child.once('exit', (code, signal) => {
    ended ??= `nginx exited with ${signal ?? code}`;
  });

  if (!(await untilListening(dir, port, child, () => ended)) || child.pid === undefined) {
    await stopChild(child);
    // Startup errors reach stderr and error.log alike; later ones only the log.
    const log = (stderr.trim() || readText(join(dir, 'error.log')).trim()).split('\n').slice(-5).join('\n');
    await rm(dir, { recursive: true, force: true });
    const why = `no proxy started on 127.0.0.1:${port}: ${ended ?? `not listening after ${START_TIMEOUT_MS} ms`}`;
    const error = `${why}${log ? `\n${log}` : ''}`;
    throw log.includes('Address already in use') ? new PortTaken(error) : new Error(error);
  }

  const pid = child.pid;
  running.set(pid, dir);
  // Drained but not waited for: a proxy doesn't hold the test process open by itself.
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  let stopping: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid,
    stop() {
      stopping ??= (async () => {
        await stopChild(child);
        running.delete(pid);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

async function writeConfig(dir: string, port: number, upstreamPort: number, idleSeconds: number) {
  const config = (await readFile(TEMPLATE, 'utf8'))
    .replaceAll('@DIR@', dir)
    .replaceAll('@LISTEN@', String(port))
    .replaceAll('@UPSTREAM@', String(upstreamPort))
    .replaceAll('@TIMEOUT@', String(idleSeconds));
  await writeFile(join(dir, 'nginx.conf'), config);
}

/**
 * True once nginx has written its pid file, which it does only after binding its port (so a
 * stranger that took the port first doesn't pass for the proxy), and the port accepts
 * connections; false if nginx ended first or START_TIMEOUT_MS passed.
 */
async function untilListening(dir: string, port: number, child: ChildProcess, ended: () => string | null) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (ended() === null && Date.now() < deadline) {
    const ours = readText(join(dir, 'nginx.pid')).trim() === String(child.pid);
    if (ours && (await accepts(port))) return ended() === null;
    await sleep(25);
  }
  return false;
}

/**
 * TERM is nginx's fast shutdown: open streams are cut at once, where a graceful QUIT would
 * wait forever on heartbeat-fed streams. A master still there after STOP_TIMEOUT_MS is killed
 * together with its workers, which would otherwise keep serving the port.
 */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.ref();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const cancel = new AbortController();
  const outcome = await Promise.race([
    exited.then(() => 'exited' as const),
    sleep(STOP_TIMEOUT_MS, 'timeout' as const, { signal: cancel.signal }),
  ]);
  cancel.abort();
  if (outcome === 'exited') return;
  for (const worker of childrenOf(child.pid)) {
    try {
      process.kill(worker, 'SIGKILL');
    } catch {}
  }
  child.kill('SIGKILL');
  await exited;
}

/** The PIDs whose parent is `pid`, from /proc (no `ps` needed). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // The stat line is "pid (comm) state ppid ...", and comm may itself hold spaces or ")".
    const stat = readText(`/proc/${entry}/stat`);
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) found.push(Number(entry));
  }
  return found;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
