import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dialect, TransportName } from './wire.ts';

/** The bench package's root, where the raw and Socket.IO targets and the Nchan template live. */
export const PACKAGE_ROOT = resolve(import.meta.dirname, '..');

export const TARGET_NAMES = ['pushwire', 'raw', 'socketio', 'nchan'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** A server under test, as the load generator sees it. */
export interface TargetInfo {
  readonly name: TargetName;
  readonly dialect: Dialect;
  readonly transports: readonly TransportName[];
  /** Order by the target's offset, or by seq when it assigns none (then publishing is serial). */
  readonly orderBy: 'offset' | 'seq';
  /** Resumes a subscriber from the cursor of its last message on every transport. */
  readonly resumes: boolean;
  /** Why it can't run here, or null. */
  unavailable(): string | null;
  start(options?: StartOptions): Promise<RunningTarget>;
}

/** How a target is configured for one run (where it has the setting). */
export interface StartOptions {
  /**
   * Messages kept per channel for resume: Pushwire `--history-size`, raw `--history`. Absent:
   * the target's own default (Pushwire's: 100 messages and at least the last 30 s; raw's: 1,000).
   */
  readonly historySize?: number;
  /**
   * Server processes for the raw ceiling (a node:cluster of raw-server.ts, see raw-cluster.ts).
   * Pushwire gets its `--workers` with the other `serve` arguments (tunePushwire).
   */
  readonly workers?: number;
  /**
   * Heartbeats from the raw ceiling, every this many ms (raw `--heartbeat`; absent: none).
   * Pushwire sends its own, every 15 s by default.
   */
  readonly heartbeatMs?: number;
}

export interface RunningTarget {
  readonly baseUrl: string;
  /** The target's first process; CPU and memory are summed over it and its descendants. */
  readonly pid: number;
  publishRequest(
    channel: string,
    payload: string,
  ): { path: string; headers: Record<string, string>; body: string };
  stop(): Promise<void>;
}

/** File descriptors every target and load-generator process may hold (the machine's hard limit). */
export const OPEN_FILES = 20_000;
const START_TIMEOUT_MS = 30_000;
const API_KEY = 'bench-api-key-0123456789';

/** Runs `command` with its open-file limit raised first (`ulimit -n`, up to the hard limit). */
export function spawnWithFileLimit(
  command: string,
  args: readonly string[],
  stdio: 'pipe' | 'ipc',
): ChildProcess {
  const script = `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n hard 2>/dev/null; exec "$0" "$@"`;
  return spawn('/bin/sh', ['-c', script, command, ...args], {
    cwd: PACKAGE_ROOT,
    stdio: stdio === 'ipc' ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
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

let nodeProfileArgs: readonly string[] = [];
let nodeTargetArgs: readonly string[] = [];
let pushwireExtraArgs: readonly string[] = [];

/** `node` flags for every Node target started from now on (`--node-args`). */
export function tuneNodeTargets(args: readonly string[]): void {
  nodeTargetArgs = args;
}

/**
 * `serve` arguments added to Pushwire's defaults from now on (`--pushwire-args`): a tuned
 * configuration, shown beside the defaults rather than instead of them.
 */
export function tunePushwire(args: readonly string[]): void {
  pushwireExtraArgs = args;
}

/**
 * Node targets started from now on write a CPU profile into `dir` when they stop (they exit
 * on SIGTERM, which is when Node writes it).
 */
export function profileNodeTargets(dir: string): void {
  nodeProfileArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
}

/** The `node` flags that profile a load-generator process into `--profile`'s `sub` folder (else none). */
export function generatorProfileArgs(sub: string): readonly string[] {
  const dir = nodeProfileArgs[2];
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(dir, sub)];
}

/** Starts a Node server process and waits for its `... listening on http://host:port` line. */
async function startNodeServer(args: readonly string[]): Promise<{ child: ChildProcess; baseUrl: string }> {
  const child = spawnWithFileLimit(
    process.execPath,
    [...nodeTargetArgs, ...nodeProfileArgs, ...args],
    'pipe',
  );
  let output = '';
  const baseUrl = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(
      () => fail(`no "listening on" line within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    );
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}; output: ${output.trim().slice(-800)}`));
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /listening on (http:\/\/[^\s]+)/i.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!.replace(/\/+$/, ''));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before listening`));
  });
  child.removeAllListeners('exit');
  // Keep reading so that a chatty server never blocks on a full pipe.
  child.stdout?.removeAllListeners('data').resume();
  child.stderr?.removeAllListeners('data').resume();
  return { child, baseUrl };
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

function jsonPublish(channel: string, payload: string, auth: boolean) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (auth) headers.Authorization = `Bearer ${API_KEY}`;
  return { path: '/api/publish', headers, body: `{"channel":${JSON.stringify(channel)},"data":${payload}}` };
}

/**
 * The `pushwire` command as the installed package declares it: the same bin a user runs, found
 * through the package's exports rather than a path into its tree.
 */
export function pushwireBin(): string {
  const manifest = fileURLToPath(import.meta.resolve('pushwire/package.json'));
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: Record<string, string> };
  return join(dirname(manifest), bin.pushwire!);
}

function nodeTarget(
  name: 'pushwire' | 'raw' | 'socketio',
  path: string,
  extraArgs: (options: StartOptions) => readonly string[],
  transports: readonly TransportName[],
  /** The same server as several processes, started when StartOptions.workers > 1. */
  clusterPath?: string,
): TargetInfo {
  return {
    name,
    dialect: name === 'socketio' ? 'socketio' : 'pushwire',
    transports,
    orderBy: 'offset',
    resumes: name !== 'socketio',
    unavailable: () => (existsSync(path) ? null : `${path} not found`),
    async start(options = {}) {
      const port = await freePort();
      const script = clusterPath && (options.workers ?? 1) > 1 ? clusterPath : path;
      const { child, baseUrl } = await startNodeServer([
        script.endsWith('.ts') ? await compiledTarget(script) : script,
        ...extraArgs(options),
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
      ]);
      return {
        baseUrl,
        pid: child.pid!,
        publishRequest: (channel, payload) => jsonPublish(channel, payload, name === 'pushwire'),
        stop: () => stopProcess(child),
      };
    },
  };
}

/**
 * A TypeScript target as the plain JavaScript Node runs, as Pushwire runs from dist/: a
 * control started through the tsx loader would carry the transpiler in its process, and
 * memory the transpiler freed, still resident, would hold the first connections without
 * growing RSS. Every target script is compiled once per bench run, side by side, so that
 * raw-cluster finds the compiled raw-server beside it.
 */
let compiling: Promise<string> | undefined;
async function compiledTarget(script: string): Promise<string> {
  compiling ??= compileTargets();
  return join(await compiling, basename(script).replace(/\.ts$/, '.mjs'));
}

async function compileTargets(): Promise<string> {
  const { build } = await import('esbuild');
  // Under node_modules, so the compiled scripts import ws and socket.io as the sources do.
  const outdir = join(PACKAGE_ROOT, 'node_modules', '.cache', 'pushwire-bench-targets');
  await build({
    entryPoints: ['raw-server.ts', 'raw-cluster.ts', 'socketio-server.ts'].map((name) =>
      join(PACKAGE_ROOT, 'targets', name),
    ),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
  });
  return outdir;
}

const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

function nchanTarget(): TargetInfo {
  const template = join(PACKAGE_ROOT, 'targets', 'nchan.conf.template');
  return {
    name: 'nchan',
    dialect: 'nchan',
    transports: ['ws', 'sse', 'poll'],
    // Nchan's message ids, turned into offsets by the subscriber (see emitNchan).
    orderBy: 'offset',
    // It resumes from a message id (Last-Event-ID), which the load generator does not keep.
    resumes: false,
    unavailable() {
      if (!existsSync(NCHAN_MODULE)) return 'libnginx-mod-nchan is not installed';
      if (!existsSync(template)) return `${template} not found`;
      return null;
    },
    async start() {
      const port = await freePort();
      const prefix = mkdtempSync(join(tmpdir(), 'pushwire-bench-nchan-'));
      const config = readFileSync(template, 'utf8')
        .replaceAll('__PREFIX__', prefix)
        .replaceAll('__PORT__', String(port));
      writeFileSync(join(prefix, 'nginx.conf'), config);
      const child = spawnWithFileLimit('nginx', ['-c', join(prefix, 'nginx.conf'), '-p', prefix], 'pipe');
      let output = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
      });
      child.stdout?.resume();
      const baseUrl = `http://127.0.0.1:${port}`;
      try {
        await waitForPort(port, child);
      } catch (error) {
        child.kill('SIGKILL');
        rmSync(prefix, { recursive: true, force: true });
        throw new Error(`nginx did not start: ${(error as Error).message} ${output.trim().slice(-500)}`);
      }
      return {
        baseUrl,
        pid: child.pid!,
        publishRequest: (channel, payload) => ({
          path: `/pub/${channel}`,
          headers: { 'Content-Type': 'text/plain', Accept: 'application/json' },
          // One message per line, so that a long poll answered with several parses alike.
          body: `${payload}\n`,
        }),
        async stop() {
          await stopProcess(child);
          rmSync(prefix, { recursive: true, force: true });
        },
      };
    },
  };
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((done) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    await new Promise((wake) => setTimeout(wake, 50));
  }
  throw new Error(`port ${port} not open within ${START_TIMEOUT_MS} ms`);
}

export const TARGETS: Readonly<Record<TargetName, TargetInfo>> = {
  pushwire: nodeTarget(
    'pushwire',
    pushwireBin(),
    // The settings a user gets: only the API key the publisher needs, then `--pushwire-args`.
    (options) => [
      'serve',
      '--api-key',
      API_KEY,
      // The load comes from one address, in numbers no single client should reach.
      '--max-connections',
      'off',
      '--max-connections-per-ip',
      'off',
      ...pushwireExtraArgs,
      ...(options.historySize === undefined ? [] : ['--history-size', String(options.historySize)]),
    ],
    ['ws', 'sse', 'poll', 'stream'],
  ),
  raw: nodeTarget(
    'raw',
    join(PACKAGE_ROOT, 'targets', 'raw-server.ts'),
    (options) => [
      ...(options.historySize === undefined ? [] : ['--history', String(options.historySize)]),
      ...((options.workers ?? 1) > 1 ? ['--workers', String(options.workers)] : []),
      ...(options.heartbeatMs === undefined ? [] : ['--heartbeat', String(options.heartbeatMs)]),
    ],
    ['ws', 'sse', 'poll', 'stream'],
    join(PACKAGE_ROOT, 'targets', 'raw-cluster.ts'),
  ),
  socketio: nodeTarget('socketio', join(PACKAGE_ROOT, 'targets', 'socketio-server.ts'), () => [], ['ws']),
  nchan: nchanTarget(),
};
