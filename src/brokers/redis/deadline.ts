/** The error a command gets when Redis has not answered in time (ioredis words it the same). */
export class CommandTimeoutError extends Error {
  constructor(ms: number) {
    super(`Command timed out after ${ms} ms`);
    this.name = 'CommandTimeoutError';
  }
}

/**
 * Settles like `work`, or rejects with CommandTimeoutError if it hasn't settled `ms` after the
 * call. A node busy fanning out can block its event loop for longer than `ms`; the timer then
 * fires in the same loop turn as the reply that arrived meanwhile, and timers run before I/O.
 * So an expired timer waits one more turn (setImmediate runs after the I/O phase) before it
 * calls the command lost: a publish Redis applied is not reported as failed because the node
 * was slow to read the answer.
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new CommandTimeoutError(ms));
      });
    }, ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
