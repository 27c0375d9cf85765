import { exec } from 'node:child_process';
import { promisify } from 'node:util';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { Pushwire } from '../client/index.ts';
import {
  assertChannel,
  PushwireError,
  parseTransportName,
  TRANSPORT_ALIASES,
  TRANSPORT_NAMES,
  type TransportName,
  transportNamesHint,
} from '../protocol/index.ts';
import { closest } from '../server/index.ts';
import { parseFlags, serverUrl, UsageError } from './args.ts';
import { describeConnectionError } from './connection-problem.ts';

export const SUBSCRIBE_USAGE = `Usage: pushwire subscribe <channel>... [--transport NAME] [--cursor C] [--url URL]
                          [--token JWT | --token-command CMD]

Prints every message of the channels as one JSON line on stdout, and what happens to the
connection (connected, reconnecting and why, gaps, errors) as # lines on stderr. Runs until
Ctrl-C (exit 0); exits 1 when the server refuses the subscription for good (a missing or bad
token, a forbidden channel).

  --transport  the one transport to use: websocket (ws), sse, longpoll (poll) or stream
               (default: WebSocket, falling back to SSE, then long poll)
  --cursor     resume after this cursor (the "cursor" of a message printed earlier)
  --url        the server (env PUSHWIRE_URL, default http://localhost:8080)
  --token      a connection token, when the server requires one (env PUSHWIRE_TOKEN)
  --token-command
               a shell command that prints a connection token (env PUSHWIRE_TOKEN_COMMAND):
               run for the first token (unless --token gives it), again before each token
               expires, and after the server refused one; the connection takes the new token
               without reconnecting. A command that fails or prints nothing is retried.
  -h, --help   show this help

Examples:
  pushwire subscribe chat:lobby
  pushwire subscribe chat:lobby scores --transport sse --url http://localhost:8080
  pushwire subscribe chat:lobby --cursor '1~chat:lobby~Xk3vQ9aB~41'   # resume where you left off
  pushwire subscribe chat:lobby | jq .data
  pushwire subscribe chat:lobby --token-command 'curl -sf https://app.example.com/push-token'`;

/** A probe that gets no answer within this long reports a timeout. */
const PROBE_TIMEOUT_MS = 5000;
/** A token command that prints nothing within this long is killed and counts as failed. */
const TOKEN_COMMAND_TIMEOUT_MS = 10_000;

interface Settings {
  readonly url: string;
  readonly channels: readonly string[];
  readonly transport: TransportName | null;
  readonly token: string | undefined;
  readonly tokenCommand: string | undefined;
  readonly cursor: string | undefined;
}

const run = promisify(exec);

/**
 * `--token-command` as the SDK's getToken: the command's stdout, trimmed, is the token. Its
 * stderr goes to ours (where the user looks when it fails); a command that exits non-zero,
 * times out or prints nothing rejects, and the SDK says so and retries with backoff.
 */
export function tokenCommand(command: string, timeoutMs = TOKEN_COMMAND_TIMEOUT_MS): () => Promise<string> {
  return async () => {
    let stdout: string;
    try {
      ({ stdout } = await run(command, { timeout: timeoutMs, maxBuffer: 64 * 1024 }));
    } catch (error) {
      const { code, killed, stderr } = error as { code?: unknown; killed?: boolean; stderr?: string };
      if (stderr) process.stderr.write(stderr);
      const why = killed ? `timed out after ${timeoutMs} ms` : `exited with ${String(code)}`;
      throw new Error(`--token-command ${why}`);
    }
    const token = stdout.trim();
    if (!token) throw new Error('--token-command printed no token');
    return token;
  };
}

/**
 * `pushwire subscribe`: resolves when it ends, with 0 after Ctrl-C (SIGINT/SIGTERM) and 1 when
 * the server refused the subscription for good.
 */
export async function runSubscribe(argv: string[]): Promise<number> {
  const settings = readSettings(argv);
  if (settings === null) {
    console.log(SUBSCRIBE_USAGE);
    return 0;
  }
  const { url, channels, transport, token, cursor } = settings;
  const note = (line: string) => process.stderr.write(`# ${line}\n`);
  // The token the probe below uses: the latest one the command printed.
  let latest = token;
  const fromCommand = settings.tokenCommand === undefined ? undefined : tokenCommand(settings.tokenCommand);
  const getToken = fromCommand && (async () => (latest = await fromCommand()));
  let client: Pushwire;
  try {
    client = new Pushwire(url, {
      ...(transport ? { transports: [transport] } : {}),
      ...(token !== undefined ? { token } : {}),
      ...(getToken ? { getToken } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
      WebSocket,
      EventSource,
    });
  } catch (error) {
    throw new UsageError(`--cursor: ${(error as Error).message}`);
  }
  return new Promise<number>((resolve) => {
    let ended = false;
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      client.close();
      resolve(code);
    };
    // Said once per cause, not on every retry: a server that stays down is one line.
    let lastCause: string | null = null;
    let lines = Promise.resolve();
    const say = (work: () => Promise<string | null> | string | null) => {
      lines = lines.then(async () => {
        const text = await work();
        if (text !== null && !ended) note(text);
      });
    };
    let tried: TransportName = transport ?? 'websocket';
    note(`subscribing to ${channels.join(', ')} at ${url}`);
    client.on('connected', ({ transport: used }) => {
      lastCause = null;
      say(() => `connected to ${url} over ${used}`);
    });
    client.on('disconnected', ({ reason }) => say(() => `disconnected from ${url}: ${reason}`));
    client.on('reconnecting', ({ delayMs, transport: next }) => {
      // A zero delay is the SDK falling back to its next transport at once.
      if (delayMs === 0) {
        const failed = tried;
        tried = next;
        return say(() => `no connection over ${failed}; trying ${next}`);
      }
      tried = next;
      say(async () => {
        const found = await probe({ ...settings, token: latest });
        // A token the server no longer takes is the token command's to replace.
        const renewable =
          getToken !== undefined && ['token_expired', 'unauthorized'].includes(found?.code ?? '');
        if (found?.terminal && !renewable) {
          note(`error: ${found.text}; not retrying`);
          end(1);
          return null;
        }
        if (found && found.text !== lastCause) note(found.text);
        lastCause = found?.text ?? null;
        return `reconnecting to ${url} over ${next} in ${delayMs} ms`;
      });
    });
    client.on('gap', (gap) =>
      say(() => `gap on ${gap.channel} (${gap.reason}): messages before offset ${gap.nextOffset} are lost`),
    );
    client.on('error', (error) => {
      const { code } = error as Error & { code?: unknown };
      say(() => `error: ${typeof code === 'string' ? `${code}: ` : ''}${error.message}`);
      // An error the SDK won't retry (unauthorized, forbidden) leaves it refused or closed.
      queueMicrotask(() => {
        if (client.state !== 'refused' && client.state !== 'closed') return;
        say(() => {
          end(1);
          return null;
        });
      });
    });
    for (const channel of channels) {
      client.subscribe(channel, (message) => process.stdout.write(`${JSON.stringify(message)}\n`));
    }
    process.once('SIGINT', () => end(0));
    process.once('SIGTERM', () => end(0));
  });
}

/** The command's settings, or null when it was asked for its help. */
function readSettings(argv: readonly string[]): Settings | null {
  const args = parseFlags(argv, {
    url: {},
    transport: {},
    cursor: {},
    token: { env: 'PUSHWIRE_TOKEN' },
    'token-command': { env: 'PUSHWIRE_TOKEN_COMMAND' },
  });
  if (args.help) return null;
  if (args.positionals.length === 0) throw new UsageError('give at least one channel');
  for (const channel of args.positionals) {
    try {
      assertChannel(channel);
    } catch (error) {
      if (error instanceof PushwireError) throw new UsageError(error.message);
      throw error;
    }
  }
  const { url, note } = serverUrl(args.values.url);
  if (note) console.error(`pushwire subscribe: ${note}`);
  return {
    url,
    channels: args.positionals,
    transport: args.values.transport === undefined ? null : transportFlag(args.values.transport),
    token: args.values.token,
    tokenCommand: args.values['token-command'],
    cursor: args.values.cursor,
  };
}

function transportFlag(text: string): TransportName {
  const name = parseTransportName(text);
  if (name !== null) return name;
  const known = [...TRANSPORT_NAMES, ...Object.keys(TRANSPORT_ALIASES)].map((n) => [n, n] as const);
  const near = closest(text, known);
  const guess = near === undefined ? '' : ` (did you mean ${near}?)`;
  throw new UsageError(`--transport: unknown transport "${text}"${guess}; use ${transportNamesHint()}`);
}

/**
 * Why the SDK can't connect, asked of the server with one long poll (which answers at once
 * without a cursor): unreachable, not a Pushwire server, or a refusal (`unauthorized`, ...)
 * that no retry will fix. Null when the server answers the poll: the cause is elsewhere.
 */
async function probe(settings: Settings): Promise<{ terminal: boolean; text: string; code?: string } | null> {
  const { url, channels, token } = settings;
  const query = new URLSearchParams(channels.map((channel) => ['channel', channel]));
  if (token !== undefined) query.set('token', token);
  let response: Response;
  try {
    response = await fetch(`${url}/poll?${query}`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  } catch (error) {
    return {
      terminal: false,
      text: `cannot reach ${url}: ${describeConnectionError(error, PROBE_TIMEOUT_MS)}`,
    };
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return null;
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    // Not the error shape: not a Pushwire server.
  }
  if (typeof error?.code !== 'string') {
    return { terminal: false, text: `${url} answers HTTP ${response.status}: is it a Pushwire server?` };
  }
  // Client errors other than a timeout or a rate limit won't go away by retrying.
  const terminal = response.status < 500 && response.status !== 408 && response.status !== 429;
  return { terminal, text: `${error.code}: ${String(error.message)}`, code: error.code };
}
