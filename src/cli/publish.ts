import { parseClientArgs } from './args.ts';

const USAGE = `Usage: pushwire publish <channel> <json> [--url URL] [--api-key KEY]
  <json>      the message data as JSON: '{"text":"hi"}', 42, '"a string"'
  --url       the server (env PUSHWIRE_URL, default http://localhost:8080)
  --api-key   the publish API key (env PUSHWIRE_API_KEY)`;

/** `pushwire publish`: one message through POST /api/publish; prints the server's answer. */
export async function runPublish(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const { url, positionals, values } = parseClientArgs(argv, { 'api-key': { env: 'PUSHWIRE_API_KEY' } });
  const [channel, json, ...extra] = positionals;
  if (!channel || json === undefined || extra.length > 0) {
    console.error(`pushwire publish: give a channel and one JSON value\n\n${USAGE}`);
    return 2;
  }
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    console.error(`pushwire publish: data is not JSON: ${json.slice(0, 80)} (quote a string as '"text"')`);
    return 2;
  }
  const apiKey = values['api-key'];
  if (typeof apiKey !== 'string') {
    console.error('pushwire publish: give the API key: --api-key KEY or PUSHWIRE_API_KEY');
    return 2;
  }
  const response = await fetch(`${url}/api/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  const text = await response.text();
  if (!response.ok) {
    console.error(`pushwire publish: HTTP ${response.status} ${text}`);
    return 1;
  }
  console.log(text);
  return 0;
}
