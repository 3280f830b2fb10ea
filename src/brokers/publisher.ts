// What the outbox relay (src/outbox/) asks of a broker: publish one message and say when it is confirmed. Each
// broker implements it in src/brokers/<name>/outbox.ts.
import type { BrokerName } from './registry.ts';

/** One event as every publisher sends it. */
export interface OutboundMessage {
  /** The event id: the broker's message id, and the envelope's id (the consumer's idempotency key). */
  id: string;
  /** The type on the wire (after RELAY_TYPE_MAP): the envelope's type and the routing key / subject. */
  type: string;
  /** The envelope `{ id, type, entityId, payload }` as JSON, with no other key. */
  body: string;
  /** Provenance: source command, client, position, sequence, stored-at, the event's own type. */
  headers: Record<string, string>;
}

/**
 * A broker connection that publishes one message at a time and resolves only once the broker confirmed
 * it (a publisher confirm, a PubAck, an XADD reply). Connects lazily and, after a lost connection, on the
 * next publish: the relay's backoff bounds how often.
 */
export interface Publisher {
  readonly broker: BrokerName;
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

/** A connection opened on first use and shared by the publishes after it. */
export interface LazyConnection<T> {
  /** The open connection, or a new one when there is none (never opened, failed to open, or lost). */
  get(): Promise<T>;
  /** Drops the connection (nothing is left open) so the next `get` opens a new one. */
  close(): Promise<void>;
}

/**
 * A publisher's connection: opened by the first publish (`connect`, then `prepare`: declarations and the like;
 * a connection whose preparing fails is closed), dropped when opening fails or when `prepare`'s `forget` is
 * called (the client saw the connection lost), and opened again by the next publish; the relay's backoff bounds
 * how often.
 *
 * @example
 * const connection = createLazyConnection({ connect: () => amqp.connect(url), prepare: async (model, forget) => { model.on('close', forget); return model.createConfirmChannel(); }, close: (model) => model.close() });
 * const channel = await connection.get();
 */
export function createLazyConnection<C, T>(steps: {
  connect: () => Promise<C>;
  prepare: (connection: C, forget: () => void) => Promise<T>;
  close: (connection: C) => Promise<unknown>;
}): LazyConnection<T> {
  let connecting: Promise<{ connection: C; prepared: T }> | undefined;
  const forget = () => {
    connecting = undefined;
  };
  const open = async () => {
    const connection = await steps.connect();
    try {
      return { connection, prepared: await steps.prepare(connection, forget) };
    } catch (err) {
      await steps.close(connection).catch(() => {});
      throw err;
    }
  };
  return {
    async get() {
      connecting ??= open();
      connecting.catch(forget);
      return (await connecting).prepared;
    },
    async close() {
      const current = connecting;
      connecting = undefined;
      const open = await current?.catch(() => undefined);
      if (open) await steps.close(open.connection).catch(() => {});
    },
  };
}
