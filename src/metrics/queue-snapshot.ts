import type pg from 'pg';
import { commandsSql } from '../db/commands-sql.ts';
import { sqlOf, withTransaction } from '../db/pool.ts';
import type { QueueSnapshot } from './registry.ts';

/** A scrape must never hold a connection for long, however large the table grows. */
export const SNAPSHOT_STATEMENT_TIMEOUT_MS = 2000;

/**
 * Reads the queue gauges (depth, oldest queued, dead letters) under a short statement timeout, from the
 * commands table, not pg-boss's jobs: a job may carry up to 12 commands, and a command is what an operator
 * asks about.
 *
 * @example
 * const metrics = createMetrics({ commandTypes: registry.types, queueSnapshot: () => readQueueSnapshot(pool, 'oncely') });
 */
export async function readQueueSnapshot(pool: pg.Pool, schema: string): Promise<QueueSnapshot> {
  return withTransaction(pool, async (client) => {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(SNAPSHOT_STATEMENT_TIMEOUT_MS)]);
    return commandsSql(schema).queueSnapshot(sqlOf(client));
  });
}
