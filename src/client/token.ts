/**
 * The connection token: the one place every link, probe and HTTP publish reads it from, so
 * that a new one (`setToken`, and any later way of getting one) reaches all of them.
 */
export class TokenSource {
  #token: string | undefined;

  constructor(token: string | undefined) {
    this.#token = token;
  }

  get current(): string | undefined {
    return this.#token;
  }

  set(token: string | undefined): void {
    this.#token = token || undefined;
  }
}
