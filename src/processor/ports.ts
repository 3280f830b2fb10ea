// What the processor needs from a queue, declared here and implemented by the queue adapter (src/queue/):
// the queue imports these types, the processor never imports the queue.
import type { Sql } from '../core/command.ts';

/** One command a job carries. */
export interface JobRef {
  clientId: string;
  id: string;
  /** Lets a worker order a batch by entity before it locks anything. */
  entityId?: string;
}

/**
 * Puts jobs on the queue inside the caller's transaction, so the command rows and their jobs commit or
 * vanish together (src/queue/boss.ts, through pg-boss's `db` option).
 *
 * @example
 * await withTransaction(pool, (sql) => enqueue(sql, [{ clientId: 'anonymous', id: 'c-1', entityId: 'acc-1' }]));
 */
export type Enqueue = (sql: Sql, jobs: readonly JobRef[]) => Promise<void>;

/** Of the given commands, the ones no live job carries (src/queue/live-jobs.ts): what the reconciler queues again. */
export type WithoutLiveJob = (sql: Sql, refs: readonly JobRef[]) => Promise<JobRef[]>;
