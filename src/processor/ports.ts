// What the processor needs from a queue, declared here and implemented by the queue adapter (src/queue/):
// the queue imports these types, the processor never imports the queue.
import type { Sql } from '../core/command.ts';
import type { JobsInStatement } from '../db/commands-sql.ts';

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
export type Enqueue = ((sql: Sql, jobs: readonly JobRef[]) => Promise<void>) & {
  /** Present when the queue can also write its jobs from inside the submission's own statement. */
  inline?: InlineEnqueue;
};

/**
 * The queue's job insert as SQL a submission puts into its command insert, so that the command rows and
 * their jobs are written by one statement (docs/processor.md, "One statement per flush"). The statement
 * passes `chunks(refs)` (the refs split into jobs exactly as `enqueue` would: whole entities, in order) as a
 * jsonb parameter, keeps only the refs of rows it inserted, and hands the rows of a CTE (one per job, a
 * column `refs`: a jsonb array of `{clientId, id}`) to `ctes(source)`, which inserts the jobs; `announced`
 * is a boolean expression the statement must evaluate for the workers' wake-up to be sent.
 */
export type InlineEnqueue = JobsInStatement;

/** Of the given commands, the ones no live job carries (src/queue/live-jobs.ts): what the reconciler queues again. */
export type WithoutLiveJob = (sql: Sql, refs: readonly JobRef[]) => Promise<JobRef[]>;
