// The relay role: publishes the outbox's stored events to RELAY_BROKER (docs/outbox.md). Off unless
// RELAY_BROKER is set.
import { publisherSettingsOf } from '../brokers/registry.ts';
import { outboxSql } from '../db/outbox-sql.ts';
import { createRelayMetrics } from '../outbox/metrics.ts';
import { startRelay, type RelayHooks } from '../outbox/relay.ts';
import type { Base, Stoppable } from './base.ts';

/**
 * Starts the relay, or nothing when no broker is configured. The broker's client loads only here: it adds
 * seconds to every start otherwise.
 *
 * @example
 * const relay = await startRelayRole(base);
 */
export async function startRelayRole(base: Base, hooks?: RelayHooks): Promise<Stoppable | undefined> {
  const { config, log, pool, schema } = base;
  const target = publisherSettingsOf(config);
  if (!target) return undefined;
  const { createPublisher } = await import('../outbox/publishers.ts');
  const relay = startRelay({
    pool,
    schema,
    publisher: await createPublisher(target),
    batchSize: config.RELAY_BATCH_SIZE,
    pollIntervalMs: config.RELAY_POLL_INTERVAL_MS,
    typeMap: config.RELAY_TYPE_MAP,
    retentionMs: config.OUTBOX_RETENTION,
    log,
    metrics: createRelayMetrics(base.metrics.registry, () => outboxSql(schema).oldestUnsentAge(pool)),
    ...(hooks ? { hooks } : {}),
  });
  log.info({ broker: target.broker }, 'outbox relay started');
  return relay;
}
