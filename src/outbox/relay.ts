// The relay loop: claim heads of entities, publish each entity's events one after another (entities in
// parallel), mark the confirmed ones in the claiming transaction, repeat. Guarantee 11 (CONTRACT section 6).
import type pg from 'pg';
import { withTransaction } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import { outboxSql, type EventRow } from '../db/outbox-sql.ts';
import { toMessage } from './message.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Publisher } from './publisher.ts';

export interface RelayHooks {
  /**
   * Called inside the claiming transaction after the broker confirmed `published`, before they are marked
   * (tests: kill the relay here and check the events go out again with the same ids).
   */
  afterPublish?: (published: readonly EventRow[]) => void | Promise<void>;
}

export interface RelayOptions {
  pool: pg.Pool;
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  publisher: Publisher;
  /** Most events claimed per transaction (RELAY_BATCH_SIZE). */
  batchSize: number;
  /** How long an idle relay waits before looking again (RELAY_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** Event type -> type on the wire (RELAY_TYPE_MAP). */
  typeMap: ReadonlyMap<string, string>;
  /** Sent events older than this are deleted (OUTBOX_RETENTION); undefined: kept. */
  retentionMs?: number;
  log: Logger;
  metrics?: RelayMetrics;
  hooks?: RelayHooks;
}

export interface Relay {
  /** Stops claiming, finishes the batch in hand, closes the broker connection. */
  stop(): Promise<void>;
}

/** Backoff after a failed round: 100 ms doubling to this cap, reset by a good round. */
export const RELAY_BACKOFF_MAX_MS = 5000;
const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 1000;
const SWEEP_MAX_BATCHES = 100;

/** One relay round: the events marked sent, and whether any publish failed. */
export interface RoundResult {
  claimed: number;
  marked: number;
  failed: boolean;
}

/**
 * Claims, publishes and marks one batch in one transaction. A failed publish stops its entity (the events
 * behind it stay unsent, so order holds); the other entities' confirmed events are still marked.
 *
 * @example
 * const { marked } = await relayRound(options);
 */
export async function relayRound(options: Omit<RelayOptions, 'pollIntervalMs' | 'log'>): Promise<RoundResult> {
  return withTransaction(options.pool, async (client) => {
    const events = await outboxSql(options.schema).claim(client, options.batchSize);
    if (events.length === 0) return { claimed: 0, marked: 0, failed: false };
    const byEntity = new Map<string, EventRow[]>();
    for (const event of events) {
      const chain = byEntity.get(event.entity_id) ?? [];
      chain.push(event);
      byEntity.set(event.entity_id, chain);
    }
    let failed = false;
    const chains = await Promise.all(
      [...byEntity.values()].map(async (chain) => {
        const confirmed: EventRow[] = [];
        for (const event of chain) {
          try {
            const result = await options.publisher.publish(toMessage(event, options.typeMap));
            if (result === 'duplicate') options.metrics?.duplicate(options.publisher.broker);
          } catch {
            failed = true;
            options.metrics?.failed(options.publisher.broker);
            break;
          }
          confirmed.push(event);
        }
        return confirmed;
      }),
    );
    const published = chains.flat();
    await options.hooks?.afterPublish?.(published);
    const marked = await outboxSql(options.schema).markSent(
      client,
      published.map((event) => event.sequence),
    );
    const byType = new Map<string, number>();
    for (const event of published) byType.set(event.type, (byType.get(event.type) ?? 0) + 1);
    for (const [type, count] of byType) options.metrics?.published(type, count);
    return { claimed: events.length, marked, failed };
  });
}

/**
 * Deletes sent events older than `retentionMs`, in bounded batches; returns how many.
 *
 * @example
 * const deleted = await sweepOutbox(pool, 'oncely', 7 * 86_400_000);
 */
export async function sweepOutbox(pool: pg.Pool, schema: string, retentionMs: number): Promise<number> {
  let total = 0;
  for (let n = 0; n < SWEEP_MAX_BATCHES; n++) {
    const deleted = await outboxSql(schema).sweepSent(pool, retentionMs, SWEEP_BATCH);
    total += deleted;
    if (deleted < SWEEP_BATCH) break;
  }
  return total;
}

/**
 * Runs the relay until stopped: a full batch is followed at once by the next, an empty one by a pause of
 * `pollIntervalMs`, a failure (database or broker) by a bounded backoff. Sweeps sent events past retention
 * every minute.
 *
 * @example
 * const relay = startRelay({ pool, publisher, batchSize: 100, pollIntervalMs: 200, typeMap: new Map(), log });
 * await relay.stop();
 */
export function startRelay(options: RelayOptions): Relay {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  let lastSweep = 0;

  const loop = async () => {
    let backoff = 0;
    while (!stopped) {
      let delay = options.pollIntervalMs;
      try {
        const round = await relayRound(options);
        if (round.failed) {
          backoff = Math.min(RELAY_BACKOFF_MAX_MS, backoff === 0 ? 100 : backoff * 2);
          delay = backoff;
          options.log.warn({ claimed: round.claimed, marked: round.marked, retryInMs: delay }, 'outbox relay: publish failed; unsent events are retried');
        } else {
          backoff = 0;
          if (round.claimed >= options.batchSize) delay = 0;
        }
        if (options.retentionMs !== undefined && Date.now() - lastSweep > SWEEP_INTERVAL_MS) {
          lastSweep = Date.now();
          const deleted = await sweepOutbox(options.pool, options.schema, options.retentionMs);
          if (deleted > 0) options.log.info({ deleted }, 'outbox: swept sent events past OUTBOX_RETENTION');
        }
      } catch (err) {
        backoff = Math.min(RELAY_BACKOFF_MAX_MS, backoff === 0 ? 100 : backoff * 2);
        delay = backoff;
        options.log.warn(
          {
            err: {
              message: (err as Error).message,
              code: (err as { code?: string }).code,
            },
            retryInMs: delay,
          },
          'outbox relay round failed',
        );
      }
      if (delay > 0 && !stopped) await sleep(delay);
    }
  };
  const running = loop();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await options.publisher.close();
    },
  };
}
