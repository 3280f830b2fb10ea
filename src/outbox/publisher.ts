import type { OutboundMessage } from './message.ts';

/**
 * A broker connection that publishes one message at a time and resolves only once the broker confirmed
 * it (a publisher confirm, a PubAck, an XADD reply). Connects lazily and, after a lost connection, on the
 * next publish: the relay's backoff bounds how often.
 */
export interface Publisher {
  readonly broker: 'rabbitmq' | 'nats' | 'redis';
  /** Resolves `duplicate` when the broker confirmed it already held this message id (JetStream's dedupe), else `stored`. */
  publish(message: OutboundMessage): Promise<'stored' | 'duplicate'>;
  close(): Promise<void>;
}

/** Publishing to a broker failed or was not confirmed in time; the relay retries the event later. */
export class PublishError extends Error {
  override name = 'PublishError';
}

/** Rejects with PublishError after `ms` unless `promise` settles first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PublishError(`${what} not confirmed within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a publish may wait for its confirmation. */
export const CONFIRM_TIMEOUT_MS = 10_000;
