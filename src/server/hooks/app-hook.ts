import { PushwireError } from '../../protocol/index.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { HookMetrics, HookName, HookOutcome } from './hook-metrics.ts';
import { HookUnreachable, postHook } from './hook-request.ts';

/** Failures in a row that open a hook's circuit, and how long it stays open. */
const CIRCUIT_THRESHOLD = 5;
const CIRCUIT_OPEN_MS = 5_000;
/** The longest refusal message passed on to a client. */
const MAX_MESSAGE_CHARS = 200;

export interface AppHookOptions {
  readonly name: Exclude<HookName, 'events'>;
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
  /** Requests in flight at most; more fail at once. */
  readonly concurrency: number;
  readonly maxAnswerBytes: number;
  readonly metrics: HookMetrics;
  readonly log: (level: 'warn' | 'info' | 'debug', msg: string, err?: unknown) => void;
}

/**
 * One authorization hook of the application (connect, subscribe or publish): a signed POST
 * per question, with a timeout, a cap on requests in flight and a circuit breaker. Its
 * answer: a 2xx with a JSON body (or none) allows; 401 and 403 refuse, and their
 * `{"message": …}` reaches the client as `unauthorized` / `forbidden`; anything else, or no
 * answer, is `unavailable`. Never lets a client in because the hook can't be asked.
 */
export class AppHook {
  private inFlight = 0;
  private readonly breaker: CircuitBreaker;

  constructor(private readonly options: AppHookOptions) {
    const { name, metrics, log } = options;
    this.breaker = new CircuitBreaker(CIRCUIT_THRESHOLD, CIRCUIT_OPEN_MS, (open) => {
      metrics.circuitOpen.set({ hook: name }, open ? 1 : 0);
      if (open)
        log(
          'warn',
          `${name} hook: ${CIRCUIT_THRESHOLD} failures in a row; clients get unavailable for ${CIRCUIT_OPEN_MS / 1000} s before it is tried again`,
        );
      else log('info', `${name} hook answers again`);
    });
    metrics.circuitOpen.set({ hook: name }, 0);
  }

  /** The application's 2xx answer (`{}` for an empty body); rejects with the PushwireError the client gets. */
  async ask(body: string): Promise<Record<string, unknown>> {
    const { name, metrics } = this.options;
    if (!this.breaker.allow()) throw this.unavailable('circuit_open', 'is failing: try again later');
    if (this.inFlight >= this.options.concurrency) {
      throw this.unavailable('busy', 'has too many requests in flight: try again later');
    }
    this.inFlight += 1;
    metrics.inFlight.inc({ hook: name });
    const stop = metrics.duration.startTimer({ hook: name });
    let answer: { status: number; body: string };
    try {
      answer = await postHook({ ...this.options, body });
    } catch (error) {
      this.breaker.failure();
      const timedOut = error instanceof HookUnreachable && error.timedOut;
      this.options.log('debug', `${name} hook: no answer`, error);
      throw this.unavailable(
        timedOut ? 'timeout' : 'unreachable',
        timedOut ? 'did not answer in time' : 'could not be reached',
      );
    } finally {
      this.inFlight -= 1;
      metrics.inFlight.dec({ hook: name });
      stop();
    }
    return this.read(answer);
  }

  private read({ status, body }: { status: number; body: string }): Record<string, unknown> {
    const { name, metrics } = this.options;
    if (status === 401 || status === 403) {
      this.breaker.success();
      metrics.requests.inc({ hook: name, outcome: 'refused' });
      throw new PushwireError(status === 401 ? 'unauthorized' : 'forbidden', refusalMessage(body));
    }
    const parsed = status >= 200 && status < 300 ? parseObject(body) : null;
    if (parsed === null) {
      this.breaker.failure();
      const why =
        status >= 200 && status < 300
          ? 'answered with a body that is not a JSON object'
          : `answered ${status}`;
      this.options.log('debug', `${name} hook ${why}`);
      throw this.unavailable('failed', 'failed');
    }
    this.breaker.success();
    metrics.requests.inc({ hook: name, outcome: 'ok' });
    return parsed;
  }

  private unavailable(outcome: HookOutcome, what: string): PushwireError {
    this.options.metrics.requests.inc({ hook: this.options.name, outcome });
    return new PushwireError('unavailable', `the application's ${this.options.name} check ${what}`);
  }
}

function parseObject(body: string): Record<string, unknown> | null {
  if (body.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The application's `{"message": …}`, cut short and without control characters, for the client. */
function refusalMessage(body: string): string {
  const parsed = parseObject(body);
  const message = parsed?.message;
  if (typeof message !== 'string' || message.trim() === '') return 'refused by the application';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  return message.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, MAX_MESSAGE_CHARS);
}
