// Redis Streams (node-redis): the inbox reads a stream in a consumer group, with a dead-letter stream beside it;
// the relay appends to a stream (fields id, type, envelope and the headers). docs/brokers.md, "Redis Streams".
import { hostname } from 'node:os';
import { z } from 'zod';
import { defineBroker, type SourceContext } from '../broker.ts';
import type { RedisSourceOptions } from './inbox.ts';
import type { RedisOptions } from './outbox.ts';
import { brokerUrl, inboxClientId, integer } from '../variables.ts';

/** The dead-letter stream that goes with `stream`. */
export const redisDeadLetterStream = (stream: string) => `${stream}:dead`;

export const redis = defineBroker({
  name: 'redis',
  title: 'Redis Streams',
  packages: ['redis'],
  defaultUrl: 'redis://127.0.0.1:6379',
  inboxVariables: {
    INBOX_REDIS_URL: brokerUrl('redis:', 'rediss:').optional(),
    INBOX_REDIS_STREAM: z.string().min(1).max(200).default('oncely:commands'),
    INBOX_REDIS_GROUP: z.string().min(1).max(200).default('oncely'),
    /** This process's consumer name in the group; default `<hostname>-<pid>`. */
    INBOX_REDIS_CONSUMER: z.string().min(1).max(200).optional(),
    INBOX_REDIS_CLIENT_ID: inboxClientId.optional(),
    INBOX_REDIS_PREFETCH: integer(1, 10_000).default(50),
    /**
     * Entries another consumer left pending this long (it died) are claimed. Entries in hand are re-claimed every
     * third of it, so it must exceed a reconnect's worst pause (backoff cap 5 s + connect timeout 5 s): at least 15000.
     */
    INBOX_REDIS_CLAIM_IDLE_MS: integer(15_000, 86_400_000).default(60_000),
    /** Deliveries after which a claimed entry goes to `<stream>:dead`. */
    INBOX_REDIS_MAX_DELIVERIES: integer(2, 10_000).default(20),
  },
  relayVariables: {
    /** Redis: the stream key events are appended to. */
    RELAY_STREAM: z.string().min(1).default('oncely.events'),
  },
  inboxSettings: (config): Omit<RedisSourceOptions, keyof SourceContext> | undefined =>
    config.INBOX_REDIS_URL
      ? {
          url: config.INBOX_REDIS_URL,
          stream: config.INBOX_REDIS_STREAM,
          group: config.INBOX_REDIS_GROUP,
          consumer: config.INBOX_REDIS_CONSUMER ?? `${hostname()}-${process.pid}`,
          prefetch: config.INBOX_REDIS_PREFETCH,
          claimIdleMs: config.INBOX_REDIS_CLAIM_IDLE_MS,
          maxDeliveries: config.INBOX_REDIS_MAX_DELIVERIES,
          clientId: config.INBOX_REDIS_CLIENT_ID ?? `redis:${config.INBOX_REDIS_STREAM}`,
        }
      : undefined,
  source: async () => (await import('./inbox.ts')).createRedisSource,
  relaySettings: (config): Omit<RedisOptions, 'url'> => ({ stream: config.RELAY_STREAM }),
  publisher: async () => (await import('./outbox.ts')).createRedisPublisher,
  kits: () => import('./kit.ts'),
});
