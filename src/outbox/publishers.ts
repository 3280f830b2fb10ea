import { createNatsPublisher } from './nats.ts';
import type { Publisher } from './publisher.ts';
import { createRabbitPublisher } from './rabbitmq.ts';
import { createRedisPublisher } from './redis.ts';

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
 * const publisher = createPublisher({ broker: 'redis', url: 'redis://127.0.0.1:6379', stream: 'oncely.events', ... });
 */
export function createPublisher(settings: BrokerSettings): Publisher {
  switch (settings.broker) {
    case 'rabbitmq':
      return createRabbitPublisher({
        url: settings.url,
        exchange: settings.exchange,
        ...(settings.queue ? { queue: settings.queue } : {}),
      });
    case 'nats':
      return createNatsPublisher({
        url: settings.url,
        subjectPrefix: settings.subjectPrefix,
        stream: settings.natsStream,
      });
    case 'redis':
      return createRedisPublisher({
        url: settings.url,
        stream: settings.stream,
      });
  }
}
