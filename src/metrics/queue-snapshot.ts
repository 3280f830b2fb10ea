import type pg from 'pg';
import { withTransaction } from '../db/pool.ts';
import type { QueueSnapshot } from './registry.ts';

/** A scrape must never hold a connection for long, however large the table grows. */
export const SNAPSHOT_STATEMENT_TIMEOUT_MS = 2000;

// The commands table, not pg-boss's jobs: a job may carry up to 50 commands, and a command is what an
// operator asks about. Each figure reads one partial index (commands_in_flight_idx, commands_dead_letters_idx),
// so a scrape costs the backlog and the dead letters, not the whole history.
const QUEUE_SNAPSHOT = `
  SELECT (SELECT count(*) FROM commands WHERE status IN ('queued', 'retrying'))::int AS depth,
         coalesce(extract(epoch FROM clock_timestamp() - (SELECT min(submitted_at) FROM commands WHERE status IN ('queued', 'retrying'))), 0)::float8 AS oldest_seconds,
         (SELECT count(*) FROM commands WHERE status = 'dead')::int AS dead`;

/**
 * Reads the queue gauges (depth, oldest queued, dead letters) under a short statement timeout.
 *
 * @example
 * const metrics = createMetrics({ commandTypes: registry.types, queueSnapshot: () => readQueueSnapshot(pool) });
 */
export async function readQueueSnapshot(pool: pg.Pool): Promise<QueueSnapshot> {
  return withTransaction(pool, async (client) => {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(SNAPSHOT_STATEMENT_TIMEOUT_MS)]);
    const { rows } = await client.query<{ depth: number; oldest_seconds: number; dead: number }>(QUEUE_SNAPSHOT);
    const row = rows[0];
    return { depth: row?.depth ?? 0, oldestSeconds: Math.max(0, row?.oldest_seconds ?? 0), dead: row?.dead ?? 0 };
  });
}
