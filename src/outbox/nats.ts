import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { CONFIRM_TIMEOUT_MS, PublishError, withTimeout, type Publisher } from './publisher.ts';

export interface NatsOptions {
  /** `nats://host:port` (several comma-separated). */
  url: string;
  /** Subjects are `<prefix>.<type>`. */
  subjectPrefix: string;
  /** The stream that captures `<prefix>.>`: created when missing. */
  stream: string;
}

/**
 * Publishes to NATS JetStream with `msgID` = event id (the stream drops a repeat inside its duplicate
 * window), provenance in headers; resolves on the PubAck.
 *
 * @example
 * const publisher = createNatsPublisher({ url: 'nats://127.0.0.1:4222', subjectPrefix: 'oncely.events', stream: 'ONCELY_EVENTS' });
 */
export function createNatsPublisher(options: NatsOptions): Publisher {
  let connecting: Promise<{ nc: NatsConnection; js: JetStreamClient }> | undefined;

  const connectOnce = () => {
    connecting ??= (async () => {
      // The client reconnects by itself within these bounds; once it gives up, the next publish starts over.
      const nc = await connect({
        servers: options.url.split(','),
        name: 'oncely-relay',
        maxReconnectAttempts: 10,
        reconnectTimeWait: 500,
      });
      try {
        void nc.closed().then(() => {
          connecting = undefined;
        });
        const jsm = await jetstreamManager(nc);
        const subjects = [`${options.subjectPrefix}.>`];
        await jsm.streams.info(options.stream).catch(async () => jsm.streams.add({ name: options.stream, subjects }));
        return { nc, js: jetstream(nc) };
      } catch (err) {
        await nc.close().catch(() => {});
        throw err;
      }
    })();
    connecting.catch(() => {
      connecting = undefined;
    });
    return connecting;
  };

  return {
    broker: 'nats',
    async publish(message) {
      const { js } = await connectOnce();
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
    async close() {
      const current = connecting;
      connecting = undefined;
      const open = await current?.catch(() => undefined);
      await open?.nc.drain().catch(() => {});
    },
  };
}
