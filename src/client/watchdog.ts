/**
 * Calls `onSilent` when nothing arrived for `limitMs`. Arrivals only record a timestamp: one
 * timer per silence window instead of one per message, which matters at hundreds of msg/s.
 */
export class Watchdog {
  readonly #onSilent: () => void;
  #limitMs = 0;
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(onSilent: () => void) {
    this.#onSilent = onSilent;
  }

  start(limitMs: number): void {
    this.stop();
    this.#limitMs = limitMs;
    this.#last = Date.now();
    this.#arm(limitMs);
  }

  beat(): void {
    this.#last = Date.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(() => {
      const silentMs = Date.now() - this.#last;
      if (silentMs >= this.#limitMs) {
        this.#timer = undefined;
        this.#onSilent();
      } else this.#arm(this.#limitMs - silentMs);
    }, delayMs);
  }
}
