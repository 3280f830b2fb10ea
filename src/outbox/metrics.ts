import { Counter, Gauge, type Registry } from 'prom-client';

/** What the relay reports; registered on the process's metrics registry. */
export interface RelayMetrics {
  published(type: string, count: number): void;
  /** A publish the broker confirmed as a repeat of a message id it held (absorbed there). */
  duplicate(broker: string): void;
  failed(broker: string): void;
}

/**
 * The relay's metric families: events published by (stored) type, publish failures by broker, and the lag
 * (age of the oldest unsent event), read from the database at scrape time.
 *
 * @example
 * const metrics = createRelayMetrics(system.metrics.registry, () => oldestUnsentAge(pool));
 */
export function createRelayMetrics(registry: Registry, lag: () => Promise<number>): RelayMetrics {
  const registers = [registry];
  const published = new Counter({
    name: 'oncely_outbox_events_published_total',
    help: 'Outbox events a broker confirmed and the relay marked sent, by event type.',
    labelNames: ['type'] as const,
    registers,
  });
  const failures = new Counter({
    name: 'oncely_outbox_publish_failures_total',
    help: 'Publishes a broker refused, did not confirm in time, or could not take (connection lost); those events are retried.',
    labelNames: ['broker'] as const,
    registers,
  });
  const duplicates = new Counter({
    name: 'oncely_outbox_broker_duplicates_total',
    help: 'Publishes the broker confirmed as repeats of a message id it already held (JetStream dedupe): a re-published event absorbed at the broker.',
    labelNames: ['broker'] as const,
    registers,
  });
  new Gauge({
    name: 'oncely_outbox_lag_seconds',
    help: 'Age of the oldest unsent outbox event (0 when none is waiting).',
    registers,
    async collect() {
      // A scrape during a database outage shows the last value rather than failing the whole exposition.
      this.set(await lag().catch(() => NaN));
    },
  });
  return {
    published: (type, count) => published.inc({ type }, count),
    failed: (broker) => failures.inc({ broker }),
    duplicate: (broker) => duplicates.inc({ broker }),
  };
}
