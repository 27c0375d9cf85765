/**
 * What a worker and its primary tell each other beside the broker's own messages
 * (brokers/ipc/messages.ts). Every message carries `pw`, like the broker's.
 */
export type ToPrimary =
  /** The worker listens: the primary announces the server once every first worker did. */
  | {
      readonly pw: 'ready';
      readonly url: string;
      readonly internalUrl: string | null;
      readonly apiKey: string;
      readonly node: string;
    }
  /** A scrape of /metrics: the primary gathers every worker's metrics. */
  | { readonly pw: 'metrics'; readonly id: number };

export type ToWorker =
  | { readonly pw: 'metrics-text'; readonly id: number; readonly text: string }
  | { readonly pw: 'metrics-text'; readonly id: number; readonly error: string };

export function isToPrimary(message: unknown): message is ToPrimary {
  const pw = (message as { pw?: unknown } | null)?.pw;
  return pw === 'ready' || pw === 'metrics';
}

export function isToWorker(message: unknown): message is ToWorker {
  return (message as { pw?: unknown } | null)?.pw === 'metrics-text';
}
