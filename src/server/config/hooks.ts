import type { Config } from './types.ts';

/** HMAC-SHA256 keys shorter than its 32-byte output make signatures easier to forge. */
export const MIN_HOOK_SECRET_BYTES = 32;

/**
 * Hook options that only make sense together: every hook needs the secret that signs its
 * requests, and a channel that asks a hook needs that hook's URL. `labels` names where a
 * value came from (`--hook-url`, `PUSHWIRE_HOOK_SECRET`) where it is known.
 */
export function hookProblems(
  config: Config,
  labels: ReadonlyMap<keyof Config, string> = new Map(),
): string[] {
  const label = (field: keyof Config) => labels.get(field) ?? field;
  const problems: string[] = [];
  const { hookSecret } = config;
  if (hookSecret !== null && Buffer.byteLength(hookSecret) < MIN_HOOK_SECRET_BYTES) {
    problems.push(
      `${label('hookSecret')}: the value is too short (use at least ${MIN_HOOK_SECRET_BYTES} bytes, e.g. openssl rand -hex 32)`,
    );
  }
  const urls = (['hookUrl', 'connectHookUrl', 'subscribeHookUrl', 'publishHookUrl'] as const).filter(
    (field) => config[field] !== null,
  );
  if (hookSecret === null && urls.length > 0) {
    problems.push(
      `${label(urls[0]!)}: hooks need --hook-secret (at least ${MIN_HOOK_SECRET_BYTES} bytes): every hook request is signed with it`,
    );
  }
  const namespaces = Object.entries(config.namespaces);
  for (const [field, url, flag] of [
    ['subscribeHook', 'subscribeHookUrl', '--subscribe-hook-url'],
    ['publishHook', 'publishHookUrl', '--publish-hook-url'],
  ] as const) {
    if (config[url] !== null) continue;
    // Namespaces take the top-level value unless they set their own: name the top level alone then.
    const asking = config[field]
      ? [label(field)]
      : namespaces.filter(([, options]) => options[field]).map(([name]) => `namespaces.${name}.${field}`);
    if (asking.length > 0) problems.push(`${asking.join(', ')}: ${field} is on, but ${flag} is not set`);
  }
  return problems;
}
