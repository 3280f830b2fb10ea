import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { CONFIRM_TIMEOUT_MS, createLazyConnection, PublishError, withTimeout, type Publisher } from '../publisher.ts';

export interface NatsOptions {
  /** `nats://host:port` (several comma-separated). */
  url: string;
  /** Subjects are `<prefix>.<type>`. */
  subjectPrefix: string;
  /** The JetStream stream that captures `<prefix>.>` (RELAY_NATS_STREAM): created when missing. */
  natsStream: string;
}

/**
 * Publishes to NATS JetStream with `msgID` = event id (the stream drops a repeat inside its duplicate
 * window), provenance in headers; resolves on the PubAck.
 *
 * @example
 * const publisher = createNatsPublisher({ url: 'nats://127.0.0.1:4222', subjectPrefix: 'oncely.events', natsStream: 'ONCELY_EVENTS' });
 */
export function createNatsPublisher(options: NatsOptions): Publisher {
  const connection = createLazyConnection({
    // The client reconnects by itself within these bounds; once it gives up, the next publish starts over.
    connect: () => connect({ servers: options.url.split(','), name: 'oncely-relay', maxReconnectAttempts: 10, reconnectTimeWait: 500 }),
    async prepare(nc, forget) {
      void nc.closed().then(forget);
      const jsm = await jetstreamManager(nc);
      const subjects = [`${options.subjectPrefix}.>`];
      await jsm.streams.info(options.natsStream).catch(async () => jsm.streams.add({ name: options.natsStream, subjects }));
      return jetstream(nc);
    },
    close: (nc) => nc.drain(),
  });

  return {
    broker: 'nats',
    async publish(message) {
      const js = await connection.get();
      const h = headers();
      for (const [key, value] of Object.entries(message.headers)) h.set(key, value);
      try {
        const ack = await withTimeout(
          js.publish(`${options.subjectPrefix}.${message.type}`, message.body, {
            msgID: message.id,
            headers: h,
            timeout: CONFIRM_TIMEOUT_MS,
          }),
          CONFIRM_TIMEOUT_MS + 1000,
          'nats publish',
        );
        return ack.duplicate ? 'duplicate' : 'stored';
      } catch (err) {
        throw err instanceof PublishError ? err : new PublishError('nats publish failed', { cause: err });
      }
    },
    close: () => connection.close(),
  };
}
