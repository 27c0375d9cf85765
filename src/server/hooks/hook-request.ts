import { SIGNATURE_HEADER, sign } from './signature.ts';

/** A hook's answer, whatever its status. */
export interface HookAnswer {
  readonly status: number;
  readonly body: string;
}

/** Why a hook request got no answer. */
export class HookUnreachable extends Error {
  constructor(
    readonly timedOut: boolean,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HookUnreachable';
  }
}

export interface HookRequest {
  readonly url: string;
  readonly secret: string;
  readonly body: string;
  readonly timeoutMs: number;
  /** Answers longer than this are not read: the request failed. */
  readonly maxAnswerBytes: number;
}

/**
 * POSTs a signed JSON body and reads the answer, within `timeoutMs` for the whole exchange.
 * Rejects with HookUnreachable when no whole answer came; any status resolves. Redirects are
 * not followed: a hook's URL is where its requests go, signed, and nowhere else.
 */
export async function postHook({
  url,
  secret,
  body,
  timeoutMs,
  maxAnswerBytes,
}: HookRequest): Promise<HookAnswer> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        [SIGNATURE_HEADER]: sign(secret, body),
        'User-Agent': 'Pushwire-Hooks',
      },
      body,
      signal,
      redirect: 'error',
    });
    return { status: response.status, body: await readLimited(response, maxAnswerBytes) };
  } catch (error) {
    if (error instanceof HookUnreachable) throw error;
    const timedOut = signal.aborted;
    throw new HookUnreachable(timedOut, timedOut ? `no answer within ${timeoutMs} ms` : describe(error), {
      cause: error,
    });
  }
}

async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new HookUnreachable(false, `the answer is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch says "fetch failed" and hides the reason (ECONNREFUSED …) in its cause. */
function describe(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}
