// NATS JetStream (@nats-io): the inbox pulls from a durable consumer on a stream, with a dead-letter stream
// beside it; the relay publishes to `<prefix>.<type>` with the event id as Nats-Msg-Id. docs/brokers.md, "NATS JetStream".
import { z } from 'zod';
import { defineBroker, type SourceContext } from '../broker.ts';
import type { NatsSourceOptions } from './inbox.ts';
import type { NatsOptions } from './outbox.ts';
import { brokerUrl, inboxClientId, integer } from '../variables.ts';

/** The dead-letter stream and its subject for `stream` (stream names have no dots, so the subject is its own). */
export const natsDeadLetterNames = (stream: string) => ({ stream: `${stream}_DEAD`, subject: `${stream}.dead` });

export const nats = defineBroker({
  name: 'nats',
  title: 'NATS JetStream',
  packages: ['@nats-io/transport-node', '@nats-io/jetstream'],
  defaultUrl: 'nats://127.0.0.1:4222',
  inboxVariables: {
    INBOX_NATS_URL: brokerUrl('nats:', 'tls:').optional(),
    /** The JetStream stream (created if missing) and, beside it, `<stream>_DEAD` for dead letters. */
    INBOX_NATS_STREAM: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be letters, digits, _ and - (a JetStream stream name)')
      .default('ONCELY_COMMANDS'),
    INBOX_NATS_SUBJECT: z
      .string()
      .regex(/^[^\s]{1,255}$/, 'must be a NATS subject')
      .default('oncely.commands'),
    /** The durable pull consumer (created if missing). */
    INBOX_NATS_CONSUMER: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be letters, digits, _ and -')
      .default('oncely-inbox'),
    INBOX_NATS_CLIENT_ID: inboxClientId.optional(),
    INBOX_NATS_PREFETCH: integer(1, 10_000).default(50),
    /**
     * How long JetStream waits for an ack. A held message's deadline is pushed back every third of it, so it must
     * exceed a reconnect's worst pause (backoff cap 5 s + connect timeout 5 s): at least 15.
     */
    INBOX_NATS_ACK_WAIT_SECONDS: integer(15, 3600).default(30),
    INBOX_NATS_MAX_DELIVER: integer(2, 10_000).default(20),
  },
  relayVariables: {
    /** NATS: events go to `<prefix>.<type>`. */
    RELAY_SUBJECT_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated subject tokens')
      .default('oncely.events'),
    /** NATS: the JetStream stream capturing `<prefix>.>`, created when missing. */
    RELAY_NATS_STREAM: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be a stream name (letters, digits, _ and -)')
      .default('ONCELY_EVENTS'),
  },
  inboxSettings: (config): Omit<NatsSourceOptions, keyof SourceContext> | undefined =>
    config.INBOX_NATS_URL
      ? {
          url: config.INBOX_NATS_URL,
          stream: config.INBOX_NATS_STREAM,
          subject: config.INBOX_NATS_SUBJECT,
          consumer: config.INBOX_NATS_CONSUMER,
          prefetch: config.INBOX_NATS_PREFETCH,
          ackWaitMs: config.INBOX_NATS_ACK_WAIT_SECONDS * 1000,
          maxDeliver: config.INBOX_NATS_MAX_DELIVER,
          clientId: config.INBOX_NATS_CLIENT_ID ?? `nats:${config.INBOX_NATS_STREAM}`,
        }
      : undefined,
  source: async () => (await import('./inbox.ts')).createNatsSource,
  relaySettings: (config): Omit<NatsOptions, 'url'> => ({ subjectPrefix: config.RELAY_SUBJECT_PREFIX, natsStream: config.RELAY_NATS_STREAM }),
  publisher: async () => (await import('./outbox.ts')).createNatsPublisher,
  kits: () => import('./kit.ts'),
});
