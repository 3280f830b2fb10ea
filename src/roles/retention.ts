// The retention role: ended commands past COMMAND_RETENTION are purged in bounded batches (one purger at a
// time cluster-wide). Off unless COMMAND_RETENTION is set.
import { startRetentionSweeper } from '../processor/retention.ts';
import type { Base, Stoppable } from './base.ts';

/**
 * Starts the retention sweep, or nothing when COMMAND_RETENTION is not set.
 *
 * @example
 * const retention = startRetentionRole(base);
 */
export function startRetentionRole(base: Base, onPurged?: (count: number) => void): Stoppable | undefined {
  const { config, log, metrics } = base;
  if (config.COMMAND_RETENTION === undefined) return undefined;
  return startRetentionSweeper({
    pool: base.pool,
    schema: base.schema,
    retentionMs: config.COMMAND_RETENTION,
    intervalMs: config.RETENTION_INTERVAL_SECONDS * 1000,
    onPurged: (count) => {
      log.info({ count }, 'purged ended commands past COMMAND_RETENTION');
      metrics.purged(count);
      onPurged?.(count);
    },
    onError: (err) => log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'retention sweep failed'),
  });
}
