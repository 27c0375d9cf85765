import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export interface RunningPushwire {
  readonly url: string;
  readonly port: number;
  readonly apiKey: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process printed so far. */
  output(): { stdout: string; stderr: string };
  publish(channel: string, data: unknown): Promise<{ channel: string; offset: number; epoch: string }>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** Extra `serve` arguments (they win over the defaults below). */
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Listen on this port instead of an ephemeral one (for restarts on the same address). */
  readonly port?: number;
  /** How long the server may take to say it listens (several processes take longer); 30 s. */
  readonly startTimeoutMs?: number;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `pushwire serve` from the sources as a real process on an ephemeral loopback port. */
export async function startPushwire(options: StartOptions = {}): Promise<RunningPushwire> {
  const apiKey = `test-${randomBytes(8).toString('hex')}`;
  const args = [
    '--import',
    'tsx',
    'src/cli/main.ts',
    'serve',
    '--port',
    String(options.port ?? 0),
    '--host',
    '127.0.0.1',
    '--api-key',
    apiKey,
    '--log-level',
    'warn',
    '--no-demo',
    ...(options.args ?? []),
  ];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('PUSHWIRE_')) env[name] = value;
  }
  const child = spawn(process.execPath, args, { cwd: root, env: { ...env, ...options.env }, stdio: 'pipe' });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A server that never said it listens must not outlive the test that waited for it.
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${startTimeoutMs / 1000} s:\n${stdout}\n${stderr}`));
    }, startTimeoutMs);
    const check = () => {
      const match = /Pushwire listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${stdout}\n${stderr}`));
    });
  });
  // Only a generated key is printed; a given one is never shown.
  const keyMatch = /API key: (\S+) {2}\(generated/.exec(stdout);
  return {
    url,
    port: Number(new URL(url).port),
    apiKey: keyMatch?.[1] ?? apiKey,
    pid: child.pid!,
    child,
    output: () => ({ stdout, stderr }),
    async publish(channel, data) {
      const response = await fetch(`${url}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${keyMatch?.[1] ?? apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel, data }),
      });
      const body = (await response.json()) as { channel: string; offset: number; epoch: string };
      if (!response.ok) throw new Error(`publish failed: ${response.status} ${JSON.stringify(body)}`);
      return body;
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
