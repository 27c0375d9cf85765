import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { Pushwire, type TransportName } from '../client/index.ts';
import { parseClientArgs } from './args.ts';

const USAGE = `Usage: pushwire subscribe <channel>... [--transport ws|sse|poll|stream] [--cursor C] [--url URL] [--token JWT]
  Prints every message of the channels as one JSON line on stdout, and what happens to the
  connection (connected, gap, reconnecting) on stderr. Ctrl-C stops.
  --transport  the one transport to use (default: WebSocket, falling back to SSE, long poll)
  --cursor     resume after this cursor (the "cursor" of a message printed earlier)
  --url        the server (env PUSHWIRE_URL, default http://localhost:8080)
  --token      a connection token, when the server requires one (env PUSHWIRE_TOKEN)`;

const TRANSPORT_NAMES: Record<string, TransportName> = {
  ws: 'websocket',
  websocket: 'websocket',
  sse: 'sse',
  poll: 'longpoll',
  longpoll: 'longpoll',
  stream: 'stream',
};

/** `pushwire subscribe`: runs until SIGINT/SIGTERM. Returns -1 while running. */
export async function runSubscribe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const { url, positionals, values } = parseClientArgs(argv, {
    transport: {},
    cursor: {},
    token: { env: 'PUSHWIRE_TOKEN' },
  });
  if (positionals.length === 0) {
    console.error(`pushwire subscribe: give at least one channel\n\n${USAGE}`);
    return 2;
  }
  const transportFlag = values.transport;
  const transport = typeof transportFlag === 'string' ? TRANSPORT_NAMES[transportFlag] : undefined;
  if (typeof transportFlag === 'string' && !transport) {
    console.error(`pushwire subscribe: --transport takes ws, sse, poll or stream, not "${transportFlag}"`);
    return 2;
  }
  const client = new Pushwire(url, {
    ...(transport ? { transports: [transport] } : {}),
    ...(typeof values.token === 'string' ? { token: values.token } : {}),
    ...(typeof values.cursor === 'string' ? { cursor: values.cursor } : {}),
    WebSocket,
    EventSource,
  });
  const note = (line: string) => process.stderr.write(`# ${line}\n`);
  client.on('connected', ({ transport: used }) => note(`connected over ${used}`));
  client.on('disconnected', ({ reason }) => note(`disconnected: ${reason}`));
  client.on('reconnecting', ({ delayMs, transport: next }) =>
    note(`reconnecting over ${next} in ${delayMs} ms`),
  );
  client.on('gap', (gap) =>
    note(`gap on ${gap.channel} (${gap.reason}): messages before offset ${gap.nextOffset} are lost`),
  );
  client.on('error', (error) => note(`error: ${error.message}`));
  for (const channel of positionals) {
    client.subscribe(channel, (message) => process.stdout.write(`${JSON.stringify(message)}\n`));
  }
  const stop = () => {
    client.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
