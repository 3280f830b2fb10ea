// Retention: ended commands older than a cutoff are deleted in bounded batches, one purger at a time
// cluster-wide. Shared by the workers' periodic sweep (COMMAND_RETENTION) and `oncely purge`.
import type pg from 'pg';
import { commandsSql } from '../db/commands-sql.ts';
import { lockKey } from '../db/engine-schema.ts';
import { sqlOf, withTransaction } from '../db/pool.ts';

/** Rows one purge transaction deletes at most: short transactions, short row locks, small WAL bursts. */
export const PURGE_BATCH_SIZE = 1000;

/**
 * Batches one sweep deletes at most, so a sweep is always bounded. A sweep that stops here with rows left
 * is followed by the next one after a pause as long as itself (at most the interval): the purge then keeps
 * up with any insert rate the processor reaches, while taking at most half the time (docs/scaling.md).
 */
export const MAX_BATCHES_PER_SWEEP = 100;

/** The advisory lock every purge transaction holds: one purger at a time, whichever process it runs in (per schema: lockKey). */
export const RETENTION_LOCK_KEY = 0x6f6e63656c79; // "oncely"

const TRY_LOCK = `SELECT pg_try_advisory_xact_lock($1::bigint) AS locked`;
const LOCK = `SELECT pg_advisory_xact_lock($1::bigint)`;

// The cutoff comes from the database's clock, not this process's, and is fixed once per sweep so that a
// long purge ends instead of chasing rows that age past a moving cutoff.
const CUTOFF = `SELECT now() - $1::bigint * interval '1 millisecond' AS cutoff`;

/**
 * The instant before which ended commands are purged: the database's `now()` minus `retentionMs`.
 *
 * @example
 * const cutoff = await retentionCutoff(pool, 7 * 86_400_000);
 */
export async function retentionCutoff(pool: pg.Pool, retentionMs: number): Promise<Date> {
  const { rows } = await pool.query<{ cutoff: Date }>(CUTOFF, [Math.round(retentionMs)]);
  return rows[0]!.cutoff;
}

/** How many ended commands completed before `cutoff` (a progress bar's total). */
export async function countPurgeable(pool: pg.Pool, schema: string, cutoff: Date): Promise<number> {
  return commandsSql(schema).countPurgeable(sqlOf(pool), cutoff);
}

/**
 * Deletes at most `limit` ended commands completed before `cutoff`, in one transaction holding the
 * retention lock. With `wait: false` it gives up at once when another purger holds the lock (null).
 *
 * @example
 * const deleted = await purgeBatch(pool, 'oncely', cutoff, 1000, { wait: true });
 */
export async function purgeBatch(pool: pg.Pool, schema: string, cutoff: Date, limit: number, options: { wait: boolean }): Promise<number | null> {
  return withTransaction(pool, async (client) => {
    if (options.wait) {
      await client.query(LOCK, [lockKey(BigInt(RETENTION_LOCK_KEY), schema).toString()]);
    } else {
      const { rows } = await client.query<{ locked: boolean }>(TRY_LOCK, [lockKey(BigInt(RETENTION_LOCK_KEY), schema).toString()]);
      if (!rows[0]?.locked) return null;
    }
    return commandsSql(schema).purgeEnded(sqlOf(client), cutoff, limit);
  });
}

export interface PurgeOptions {
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  cutoff: Date;
  batchSize?: number;
  /** Wait for the lock (the CLI) or give the sweep up when another purger has it (the workers). */
  wait: boolean;
  /** Stop after this many batches (default: until nothing is left). */
  maxBatches?: number;
  /** Called after each committed batch with the rows it deleted. */
  onBatch?: (deleted: number) => void;
  /** Checked between batches: true ends the purge early. */
  stopped?: () => boolean;
}

export interface PurgeResult {
  purged: number;
  /** True when another purger held the lock and this one stepped aside. */
  busy: boolean;
}

/**
 * Purges ended commands completed before `cutoff`, batch after batch, each batch its own transaction.
 *
 * @example
 * const { purged } = await purgeEndedCommands(pool, { schema: 'oncely', cutoff: await retentionCutoff(pool, 30 * 86_400_000), wait: true });
 */
export async function purgeEndedCommands(pool: pg.Pool, options: PurgeOptions): Promise<PurgeResult> {
  const batchSize = options.batchSize ?? PURGE_BATCH_SIZE;
  let purged = 0;
  for (let batch = 0; batch < (options.maxBatches ?? Number.POSITIVE_INFINITY); batch++) {
    if (options.stopped?.()) break;
    const deleted = await purgeBatch(pool, options.schema, options.cutoff, batchSize, { wait: options.wait });
    if (deleted === null) return { purged, busy: true };
    purged += deleted;
    if (deleted > 0) options.onBatch?.(deleted);
    if (deleted < batchSize) break;
  }
  return { purged, busy: false };
}

export interface RetentionSweeper {
  /** Stops the timer and waits for a sweep in flight (call before the pool ends). */
  stop(): Promise<void>;
}

export interface RetentionSettings {
  pool: pg.Pool;
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  /** COMMAND_RETENTION in milliseconds. */
  retentionMs: number;
  intervalMs: number;
  batchSize?: number;
  /** Default MAX_BATCHES_PER_SWEEP. */
  maxBatchesPerSweep?: number;
  /** Rows purged by this process, batch by batch (wire it to oncely_purged_commands_total). */
  onPurged?: (count: number) => void;
  /** A failed sweep (the database away): reported, and tried again at the next interval. */
  onError: (err: unknown) => void;
}

/**
 * A worker's periodic retention sweep: every `intervalMs`, purge ended commands older than `retentionMs`
 * in bounded batches. Every worker runs one; the advisory lock lets one of them purge at a time. A sweep cut
 * short by its bound goes on after a pause as long as itself instead of a whole interval, so a backlog of
 * purgeable rows (retention turned on over a long history, or more commands per interval than a sweep's
 * bound) drains instead of growing.
 *
 * @example
 * const sweeper = startRetentionSweeper({ pool, schema: 'oncely', retentionMs: 30 * 86_400_000, intervalMs: 60_000, onError: log.warn });
 * await sweeper.stop();
 */
export function startRetentionSweeper(settings: RetentionSettings): RetentionSweeper {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const batchSize = settings.batchSize ?? PURGE_BATCH_SIZE;
  const maxBatches = settings.maxBatchesPerSweep ?? MAX_BATCHES_PER_SWEEP;

  /** The delay before the next sweep: the interval, or as long as this sweep took when it stopped at its bound. */
  const sweep = async (): Promise<number> => {
    const started = Date.now();
    const cutoff = await retentionCutoff(settings.pool, settings.retentionMs);
    const { purged, busy } = await purgeEndedCommands(settings.pool, {
      schema: settings.schema,
      cutoff,
      wait: false,
      batchSize,
      maxBatches,
      ...(settings.onPurged ? { onBatch: settings.onPurged } : {}),
      stopped: () => stopped,
    });
    const cutShort = !busy && purged >= maxBatches * batchSize;
    return cutShort ? Math.min(settings.intervalMs, Date.now() - started) : settings.intervalMs;
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep()
        .catch((err: unknown) => {
          settings.onError(err);
          return settings.intervalMs;
        })
        .then((next) => {
          running = undefined;
          schedule(next);
        });
    }, delayMs);
    timer.unref();
  };
  schedule(settings.intervalMs);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
