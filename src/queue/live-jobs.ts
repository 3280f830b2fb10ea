// Which commands still have a job on the queue: the reconciler's question, answered from pg-boss's own
// tables. Kept here because src/queue is the only folder that knows how pg-boss stores its jobs.
import type { WithoutLiveJob } from '../processor/ports.ts';
import { DEFAULT_SCHEMA } from '../core/schema-name.ts';
import { queueNames } from './boss.ts';

// pg-boss 12 keeps every queue's jobs under the table `pgboss.job`: the partitioned parent (each queue's
// rows in `job_common`, or in a table of its own when the queue was created with `partition: true`, named
// by `pgboss.queue.table_name`) or, in the unpartitioned install, the plain table itself. Reading the
// parent with a filter on `name` reaches the right physical table in either shape (partition pruning),
// and the filter on `state` is served by pg-boss's partial index of unfinished jobs (job_i14).
//
// A job is live while it is `created`, `retry` or `active`: it will be delivered (again). A `failed` job of
// the command queue is not, but the copy pg-boss inserted into the dead-letter queue in the same statement
// is, until the dead-letter worker has ended the command: a command whose copy waits there is not lost.
// `completed` and `cancelled` jobs will never run again.
//
// A job's data is one command `{clientId, id}` (older jobs also carry entityId) or `{commands: [...]}`.
const COMMANDS_WITHOUT_LIVE_JOB = `
  WITH candidate AS (
    SELECT * FROM unnest($1::text[], $2::text[]) AS c(client_id, id)
  ), live AS (
    SELECT ref->>'clientId' AS client_id, ref->>'id' AS id
    FROM pgboss.job AS j
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN j.data ? 'commands' THEN j.data->'commands' ELSE jsonb_build_array(j.data) END
    ) AS ref
    WHERE j.name = ANY($3::text[]) AND j.state IN ('created', 'retry', 'active')
  )
  SELECT c.client_id, c.id FROM candidate AS c
  WHERE NOT EXISTS (SELECT 1 FROM live AS l WHERE l.client_id = c.client_id AND l.id = c.id)`;

/**
 * Of the given commands, the ones no live job carries (on the command queue of the oncely in `schema`, or
 * its dead-letter queue), in
 * one statement: an anti-join of the candidates against the refs of every unfinished job. Its cost is one
 * pass over the unfinished jobs of the two queues, whatever the number of candidates.
 *
 * @example
 * const orphans = await withoutLiveJobIn('oncely')(sql, [{ clientId: 'anonymous', id: 'credit-1' }]);
 * // [] while credit-1's job waits, is retried or runs; [{ clientId: 'anonymous', id: 'credit-1' }] once it is gone
 */
export function withoutLiveJobIn(schema: string): WithoutLiveJob {
  const queues = queueNames(schema);
  return async (sql, refs) => {
    if (refs.length === 0) return [];
    const { rows } = await sql.query<{ client_id: string; id: string }>(COMMANDS_WITHOUT_LIVE_JOB, [
      refs.map((ref) => ref.clientId),
      refs.map((ref) => ref.id),
      [queues.commands, queues.dead],
    ]);
    const orphaned = new Set(rows.map((row) => `${row.client_id}\u0000${row.id}`));
    // The caller's refs, in the caller's order (oldest first), entity ids kept.
    return refs.filter((ref) => orphaned.has(`${ref.clientId}\u0000${ref.id}`));
  };
}

/** `withoutLiveJobIn` for the default schema's queues. */
export const commandsWithoutLiveJob: WithoutLiveJob = withoutLiveJobIn(DEFAULT_SCHEMA);
