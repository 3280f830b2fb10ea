// The inbox role: the configured broker sources, each feeding the one delivery handler.
import { hostname } from 'node:os';
import type { Registry } from '../core/registry.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { NewCommand, Submission } from '../processor/submit.ts';
import { DEFAULT_BACKOFF, type Backoff } from './backoff.ts';
import { createDeliveryHandler, type InboxHooks, type InboxSource } from './inbox.ts';
import { createInboxMetrics } from './metrics.ts';
import { loadOptional } from '../optional.ts';
import type { InboxSettings } from './settings.ts';

export type { InboxHooks, InboxSource } from './inbox.ts';
export { inboxSubmissions } from './metrics.ts';

export { inboxConfigured, type InboxSettings } from './settings.ts';

const NATS_PACKAGES = ['@nats-io/transport-node', '@nats-io/jetstream'];

/**
 * The sources the settings configure (none when no INBOX_*_URL is set). Each connection is named after the
 * process, so an operator (or a test) can find and close exactly this process's connection.
 *
 * @example
 * const sources = await createInboxSources(config, { log });
 */
export async function createInboxSources(settings: InboxSettings, deps: { log: Logger; backoff?: Backoff }): Promise<InboxSource[]> {
  const { log } = deps;
  const backoff = deps.backoff ?? DEFAULT_BACKOFF;
  const name = `oncely-inbox-${hostname()}-${process.pid}`;
  const sources: InboxSource[] = [];
  if (settings.INBOX_RABBITMQ_URL) {
    const { createRabbitMqSource } = await loadOptional('INBOX_RABBITMQ_URL (the RabbitMQ inbox)', ['amqplib'], () => import('./rabbitmq.ts'));
    const queue = settings.INBOX_RABBITMQ_QUEUE;
    sources.push(
      createRabbitMqSource({
        url: settings.INBOX_RABBITMQ_URL,
        queue,
        prefetch: settings.INBOX_RABBITMQ_PREFETCH,
        clientId: settings.INBOX_RABBITMQ_CLIENT_ID ?? `rabbitmq:${queue}`,
        connectionName: name,
        log,
        backoff,
      }),
    );
  }
  if (settings.INBOX_NATS_URL) {
    const { createNatsSource } = await loadOptional('INBOX_NATS_URL (the NATS JetStream inbox)', NATS_PACKAGES, () => import('./nats.ts'));
    const stream = settings.INBOX_NATS_STREAM;
    sources.push(
      createNatsSource({
        url: settings.INBOX_NATS_URL,
        stream,
        subject: settings.INBOX_NATS_SUBJECT,
        consumer: settings.INBOX_NATS_CONSUMER,
        prefetch: settings.INBOX_NATS_PREFETCH,
        ackWaitMs: settings.INBOX_NATS_ACK_WAIT_SECONDS * 1000,
        maxDeliver: settings.INBOX_NATS_MAX_DELIVER,
        clientId: settings.INBOX_NATS_CLIENT_ID ?? `nats:${stream}`,
        connectionName: name,
        log,
        backoff,
      }),
    );
  }
  if (settings.INBOX_REDIS_URL) {
    const { createRedisSource } = await loadOptional('INBOX_REDIS_URL (the Redis Streams inbox)', ['redis'], () => import('./redis.ts'));
    const stream = settings.INBOX_REDIS_STREAM;
    sources.push(
      createRedisSource({
        url: settings.INBOX_REDIS_URL,
        stream,
        group: settings.INBOX_REDIS_GROUP,
        consumer: settings.INBOX_REDIS_CONSUMER ?? `${hostname()}-${process.pid}`,
        prefetch: settings.INBOX_REDIS_PREFETCH,
        claimIdleMs: settings.INBOX_REDIS_CLAIM_IDLE_MS,
        maxDeliveries: settings.INBOX_REDIS_MAX_DELIVERIES,
        clientId: settings.INBOX_REDIS_CLIENT_ID ?? `redis:${stream}`,
        connectionName: name,
        log,
        backoff,
      }),
    );
  }
  return sources;
}

export interface Inbox {
  readonly sources: readonly InboxSource[];
  /** Stops every source: no new deliveries, those in hand commit and ack (or are left for redelivery). */
  stop(): Promise<void>;
}

/**
 * Starts the sources, each delivery going through intake and `submit` (the command service's group-committed
 * submission) under the source's client id.
 *
 * @example
 * const inbox = startInbox({ sources: await createInboxSources(config, { log }), registry, submit: service.submit, metrics, log });
 * await inbox.stop();
 */
export function startInbox(deps: {
  sources: readonly InboxSource[];
  registry: Registry;
  submit: (clientId: string, commands: readonly NewCommand[]) => Promise<Submission[]>;
  metrics: Metrics;
  log: Logger;
  hooks?: InboxHooks | undefined;
  backoff?: Backoff;
}): Inbox {
  const stopping = new AbortController();
  const metrics = createInboxMetrics(
    deps.metrics,
    deps.sources.map((source) => source.name),
  );
  for (const source of deps.sources) {
    const handle = createDeliveryHandler({
      source: source.name,
      clientId: source.clientId,
      registry: deps.registry,
      submit: deps.submit,
      metrics,
      log: deps.log,
      signal: stopping.signal,
      backoff: deps.backoff ?? DEFAULT_BACKOFF,
      hooks: deps.hooks,
    });
    source.start(async (delivery) => void (await handle(delivery)));
  }
  return {
    sources: deps.sources,
    async stop() {
      stopping.abort();
      await Promise.all(deps.sources.map((source) => source.stop()));
    },
  };
}
