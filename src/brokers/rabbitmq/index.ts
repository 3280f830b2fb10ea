// RabbitMQ (amqplib): the inbox consumes a durable queue with a dead-letter exchange and queue beside it; the
// relay publishes to a topic exchange (routing key = event type). docs/brokers.md, "RabbitMQ".
import { z } from 'zod';
import { defineBroker, type SourceContext } from '../broker.ts';
import type { RabbitMqSourceOptions } from './inbox.ts';
import type { RabbitOptions } from './outbox.ts';
import { brokerUrl, inboxClientId, integer } from '../variables.ts';

/** The dead-letter exchange and queue that go with `queue`. */
export const rabbitDeadLetterNames = (queue: string) => ({ exchange: `${queue}.dlx`, queue: `${queue}.dead` });

export const rabbitmq = defineBroker({
  name: 'rabbitmq',
  title: 'RabbitMQ',
  packages: ['amqplib'],
  defaultUrl: 'amqp://guest:guest@127.0.0.1:5672',
  inboxVariables: {
    INBOX_RABBITMQ_URL: brokerUrl('amqp:', 'amqps:').optional(),
    INBOX_RABBITMQ_QUEUE: z.string().min(1).max(200).default('oncely.commands'),
    /** Unacked deliveries in hand at once (basic.qos). */
    INBOX_RABBITMQ_PREFETCH: integer(1, 10_000).default(50),
    INBOX_RABBITMQ_CLIENT_ID: inboxClientId.optional(),
  },
  relayVariables: {
    /** RabbitMQ: the topic exchange events go to (routing key = event type). */
    RELAY_EXCHANGE: z.string().min(1).max(255).default('oncely.events'),
    /** RabbitMQ: a durable queue bound to the exchange with `#` (optional). */
    RELAY_QUEUE: z.string().min(1).max(255).optional(),
  },
  inboxSettings: (config): Omit<RabbitMqSourceOptions, keyof SourceContext> | undefined =>
    config.INBOX_RABBITMQ_URL
      ? {
          url: config.INBOX_RABBITMQ_URL,
          queue: config.INBOX_RABBITMQ_QUEUE,
          prefetch: config.INBOX_RABBITMQ_PREFETCH,
          clientId: config.INBOX_RABBITMQ_CLIENT_ID ?? `rabbitmq:${config.INBOX_RABBITMQ_QUEUE}`,
        }
      : undefined,
  source: async () => (await import('./inbox.ts')).createRabbitMqSource,
  relaySettings: (config): Omit<RabbitOptions, 'url'> => ({ exchange: config.RELAY_EXCHANGE, ...(config.RELAY_QUEUE ? { queue: config.RELAY_QUEUE } : {}) }),
  publisher: async () => (await import('./outbox.ts')).createRabbitPublisher,
  kits: () => import('./kit.ts'),
});
