import { scanJsonValue } from '../protocol/index.ts';
import { parseFlags, serverUrl, UsageError } from './args.ts';
import { describeConnectionError } from './connection-problem.ts';

export const PUBLISH_USAGE = `Usage: pushwire publish <channel> <json> [--url URL] [--api-key KEY]

Publishes one message through POST /api/publish and prints where it landed
({"channel","offset","epoch"}). Exits 1 when the server refuses it or can't be reached.

  <json>      the message data as JSON: '{"text":"hi"}', 42, '"a string"'
  --url       the server (env PUSHWIRE_URL, default http://localhost:8080)
  --api-key   the publish API key that pushwire serve printed (env PUSHWIRE_API_KEY)
  -h, --help  show this help

Examples:
  pushwire publish chat:lobby '{"text":"hi"}' --api-key "$KEY"
  PUSHWIRE_API_KEY=$KEY pushwire publish scores 42 --url https://push.example.com`;

/** How long a publish may take before the command gives up. */
const TIMEOUT_MS = 10_000;

/** `pushwire publish`: one message through POST /api/publish; prints the server's answer. */
export async function runPublish(argv: string[]): Promise<number> {
  const args = parseFlags(argv, { url: {}, 'api-key': { env: 'PUSHWIRE_API_KEY' } });
  if (args.help) {
    console.log(PUBLISH_USAGE);
    return 0;
  }
  const [channel, json, ...extra] = args.positionals;
  if (!channel || json === undefined) throw new UsageError('give a channel and one JSON value');
  if (extra.length > 0) {
    throw new UsageError(`one JSON value only, got ${extra.length + 1} (quote the JSON: '{"a": 1}')`);
  }
  // Sent as written, not parsed and re-serialized: 12345678901234567890123 keeps its digits.
  const data = scanJsonValue(json);
  if (!data.ok) {
    throw new UsageError(
      `data is not JSON (${data.reason}): ${json.slice(0, 80)} (quote a string as '"text"')`,
    );
  }
  const apiKey = args.values['api-key'];
  if (apiKey === undefined) throw new UsageError('give the API key: --api-key KEY or PUSHWIRE_API_KEY');
  const { url, note } = serverUrl(args.values.url);
  if (note) console.error(`pushwire publish: ${note}`);

  let response: Response;
  try {
    response = await fetch(`${url}/api/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      body: `{"channel":${JSON.stringify(channel)},"data":${data.value}}`,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    console.error(`pushwire publish: cannot reach ${url}: ${describeConnectionError(error, TIMEOUT_MS)}`);
    return 1;
  }
  const text = await response.text();
  if (!response.ok) {
    console.error(`pushwire publish: ${refusal(url, response, text)}`);
    return 1;
  }
  console.log(text);
  return 0;
}

/** The server's `{"error":{code,message}}`, or what else answered when it isn't Pushwire. */
function refusal(url: string, response: Response, text: string): string {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof error?.code === 'string')
      return `${error.code}: ${String(error.message)} (HTTP ${response.status})`;
  } catch {
    // Not JSON: not a Pushwire server, said below.
  }
  const start = text.trim().slice(0, 80).replace(/\s+/g, ' ');
  return `HTTP ${response.status} from ${url}/api/publish: is it a Pushwire server?${start ? ` (${start})` : ''}`;
}
