type State = 'closed' | 'open' | 'half-open';

/**
 * Stops asking a hook that keeps failing: after `threshold` failures in a row it opens for
 * `openMs`, during which requests fail at once without reaching the hook; then one trial
 * request goes through, and its outcome closes or reopens it. A down application then costs
 * its clients no timeout each, and it is not hammered while it comes back.
 */
export class CircuitBreaker {
  private state: State = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    /** Told when it opens (true) or closes again (false). */
    private readonly changed: (open: boolean) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** Whether a request may go now; in half-open state only one trial at a time. */
  allow(): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (this.now() - this.openedAt < this.openMs) return false;
      this.state = 'half-open';
    }
    if (this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  /** The hook answered (whether it allowed or refused: it is up). */
  success(): void {
    this.trialInFlight = false;
    this.failures = 0;
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.changed(false);
  }

  /** The hook timed out, could not be reached, or answered with an error. */
  failure(): void {
    this.trialInFlight = false;
    this.failures += 1;
    if (this.state === 'half-open' || (this.state === 'closed' && this.failures >= this.threshold)) {
      const wasClosed = this.state === 'closed';
      this.state = 'open';
      this.openedAt = this.now();
      if (wasClosed) this.changed(true);
    }
  }
}
