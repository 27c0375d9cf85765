import type { ClientTransport } from './transports/types.ts';

/** A transport that worked before is given this many failed opens in a row before moving on. */
const RETRIES_OF_A_WORKING_TRANSPORT = 3;

/**
 * The fallback order as data: which transport to open next. A transport that never opened is
 * left after one failure; one that worked is kept through brief outages (a server restart)
 * and left only when it keeps failing, e.g. a proxy that began refusing WebSocket upgrades.
 */
export class FallbackPlan {
  readonly transports: readonly ClientTransport[];
  #index = 0;
  #failures = 0;
  readonly #worked = new Set<string>();

  /** `transports` MUST NOT be empty (`chooseTransports` says why when none is supported). */
  constructor(transports: readonly ClientTransport[]) {
    this.transports = transports;
  }

  get current(): ClientTransport {
    return this.transports[this.#index]!;
  }

  /** True once a lower transport than the preferred one is in use. */
  get degraded(): boolean {
    return this.#index > 0;
  }

  opened(transport: ClientTransport = this.current): void {
    this.#index = this.transports.indexOf(transport);
    this.#worked.add(transport.name);
    this.#failures = 0;
  }

  /** The current transport failed to open. Returns true when the plan moved to a fresh one. */
  failed(): boolean {
    this.#failures++;
    if (this.#worked.has(this.current.name) && this.#failures < RETRIES_OF_A_WORKING_TRANSPORT) return false;
    this.#failures = 0;
    this.#index = (this.#index + 1) % this.transports.length;
    return this.#index > 0;
  }
}
