import { loadOptional } from '../optional.ts';
import type { Publisher } from './publisher.ts';

/** Where the relay publishes (the RELAY_* settings). */
export interface BrokerSettings {
  broker: 'rabbitmq' | 'nats' | 'redis';
  url: string;
  /** RabbitMQ: the topic exchange, and a queue to bind to it (optional). */
  exchange: string;
  queue?: string;
  /** NATS: subjects `<subjectPrefix>.<type>`, captured by `natsStream`. */
  subjectPrefix: string;
  natsStream: string;
  /** Redis: the stream key. */
  stream: string;
}

/**
 * The publisher for the configured broker (nothing connects until the first publish).
 *
 * @example
 * const publisher = await createPublisher({ broker: 'redis', url: 'redis://127.0.0.1:6379', stream: 'oncely.events', ... });
 */
export async function createPublisher(settings: BrokerSettings): Promise<Publisher> {
  const feature = `RELAY_BROKER=${settings.broker}`;
  switch (settings.broker) {
    case 'rabbitmq': {
      const { createRabbitPublisher } = await loadOptional(feature, ['amqplib'], () => import('./rabbitmq.ts'));
      return createRabbitPublisher({
        url: settings.url,
        exchange: settings.exchange,
        ...(settings.queue ? { queue: settings.queue } : {}),
      });
    }
    case 'nats': {
      const { createNatsPublisher } = await loadOptional(feature, ['@nats-io/transport-node', '@nats-io/jetstream'], () => import('./nats.ts'));
      return createNatsPublisher({
        url: settings.url,
        subjectPrefix: settings.subjectPrefix,
        stream: settings.natsStream,
      });
    }
    case 'redis': {
      const { createRedisPublisher } = await loadOptional(feature, ['redis'], () => import('./redis.ts'));
      return createRedisPublisher({
        url: settings.url,
        stream: settings.stream,
      });
    }
  }
}
