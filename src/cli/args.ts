import { parseArgs } from 'node:util';

export interface ClientArgs {
  readonly url: string;
  readonly positionals: string[];
  readonly values: Record<string, string | boolean | undefined>;
}

/**
 * Parses the arguments of the client commands (publish, subscribe): `--url` (or PUSHWIRE_URL,
 * default http://localhost:8080) plus the command's own string options.
 */
export function parseClientArgs(argv: string[], options: Record<string, { env?: string }>): ClientArgs {
  const spec: Record<string, { type: 'string' }> = { url: { type: 'string' } };
  for (const name of Object.keys(options)) spec[name] = { type: 'string' };
  const { values, positionals } = parseArgs({
    args: argv,
    options: spec,
    allowPositionals: true,
    strict: true,
  });
  const withEnv: Record<string, string | undefined> = {};
  for (const [name, { env }] of Object.entries(options)) {
    withEnv[name] = (values[name] as string | undefined) ?? (env ? process.env[env] : undefined);
  }
  const url = (
    (values.url as string | undefined) ??
    process.env.PUSHWIRE_URL ??
    'http://localhost:8080'
  ).replace(/\/+$/, '');
  return { url, positionals, values: withEnv };
}
