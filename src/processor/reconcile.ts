// The reconciler: a command that is queued or retrying but has no live job (the job deleted by hand, a
// restored backup, a bug) would otherwise never end. Workers sweep for such commands and queue them again.
//
// Why a command is never queued twice by it:
// - One sweep at a time cluster-wide: each page runs under a transaction-scoped advisory lock with a fixed
//   key; a worker that cannot take it skips the page (another worker is sweeping).
// - Only commands unchanged for a grace period longer than any batch may run (2 x JOB_EXPIRE_SECONDS and a
//   margin) are considered, so a command being stored, fetched or retried right now is never a candidate.
// - The decisive check runs after the command rows are locked (FOR UPDATE SKIP LOCKED: a row a worker is
//   applying right now is skipped) in a statement of its own, so under READ COMMITTED it sees every job
//   committed before the locks were taken, a concurrent sweeper's included. While the lock is held nothing
//   can queue a job for the command (submission, replay and the worker all lock the row first), so the
//   check and the enqueue that follows it in the same transaction cannot be overtaken.
// Even so a second job would be harmless: the processor dedupes every delivery under the command row lock.
import type pg from 'pg';
import type { Logger } from '../log.ts';
import { commandsSql } from '../db/commands-sql.ts';
import { lockKey } from '../db/engine-schema.ts';
import { sqlOf, withTransaction } from '../db/pool.ts';
import type { Enqueue, JobRef, WithoutLiveJob } from './ports.ts';

export interface ReconcilerSettings {
  pool: pg.Pool;
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  /** Seconds between sweeps; each sweep starts after the previous one ended. */
  intervalSeconds: number;
  /** Seconds a command must have been left unchanged before it is a candidate. */
  graceSeconds: number;
  withoutLiveJob: WithoutLiveJob;
  enqueue: Enqueue;
  log: Logger;
  /** Called with the number of commands queued again by a sweep that queued any (the metrics counter). */
  onReconciled?: (count: number) => void;
  /**
   * Candidates examined per transaction (default 2000). A page costs one read of the commands table and one
   * pass over the live jobs whatever its size, so pages are large and few.
   */
  pageSize?: number;
  /** Pages one sweep examines at most; the next sweep of this process goes on from there (default 3). */
  maxPagesPerSweep?: number;
  /** Command ids a sweep's log line names at most (default 20). */
  logIdsLimit?: number;
}

export interface SweepResult {
  /** Commands queued again, oldest first. */
  requeued: JobRef[];
  /** Commands examined (queued or retrying for longer than the grace period). */
  examined: number;
  /** Whether another worker held the sweep lock, so this one examined nothing. */
  skipped: boolean;
}

export interface Reconciler {
  /** Runs one sweep now (tests, the CLI); sweeps never overlap within a process. */
  sweep(): Promise<SweepResult>;
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/** pg_try_advisory_xact_lock key of the sweep: fixed, so every worker of every process contends for it. */
export const RECONCILE_LOCK_KEY = 0x6f6e63656c7901n; // "oncely" + 1

/** The grace period for a job expiry: a batch runs at most JOB_EXPIRE_SECONDS; twice that plus a margin. */
export function reconcileGraceSeconds(jobExpireSeconds: number): number {
  return 2 * jobExpireSeconds + 2;
}

interface Cursor {
  updatedAt: Date;
  clientId: string;
  id: string;
}

const refOf = (row: { client_id: string; id: string; entity_id: string }): JobRef => ({ clientId: row.client_id, id: row.id, entityId: row.entity_id });

/**
 * One page of a sweep, in one transaction: read the next candidates, find those without a live job, lock
 * them, check again under the lock, and queue the ones still without a job. `null` when another worker
 * holds the sweep lock.
 */
async function reconcilePage(
  settings: ReconcilerSettings,
  cursor: Cursor | undefined,
  pageSize: number,
): Promise<{ requeued: JobRef[]; examined: number; next: Cursor | undefined } | null> {
  return withTransaction(settings.pool, async (client) => {
    const sql = sqlOf(client);
    const { rows: lock } = await sql.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [
      lockKey(RECONCILE_LOCK_KEY, settings.schema).toString(),
    ]);
    if (!lock[0]?.locked) return null;
    const candidates = await commandsSql(settings.schema).reconcileCandidates(sql, settings.graceSeconds, cursor, pageSize);
    const last = candidates.at(-1);
    const next = candidates.length === pageSize && last ? { updatedAt: last.updated_at, clientId: last.client_id, id: last.id } : undefined;
    const suspects = await settings.withoutLiveJob(sql, candidates.map(refOf));
    if (suspects.length === 0) return { requeued: [], examined: candidates.length, next };

    const locked = await commandsSql(settings.schema).lockReconcileSuspects(
      sql,
      suspects.map((s) => s.clientId),
      suspects.map((s) => s.id),
      settings.graceSeconds,
    );
    // A statement of its own, after the locks: it sees every job committed before them (READ COMMITTED).
    const orphans = await settings.withoutLiveJob(sql, locked.map(refOf));
    // Queued again oldest first, as they were first queued: a worker applies a job's commands in order, so
    // an entity's creating command still comes before the commands that act on it.
    const age = new Map(suspects.map((s, i) => [`${s.clientId}\u0000${s.id}`, i]));
    orphans.sort((a, b) => age.get(`${a.clientId}\u0000${a.id}`)! - age.get(`${b.clientId}\u0000${b.id}`)!);
    await settings.enqueue(sql, orphans);
    return { requeued: orphans, examined: candidates.length, next };
  });
}

/**
 * Starts the periodic sweep for commands whose job vanished; every worker process runs one, and one sweep
 * at a time runs cluster-wide. Each sweep walks at most `maxPagesPerSweep` pages of the oldest unfinished
 * commands from where the last sweep of this process stopped, then starts over from the oldest.
 *
 * @example
 * const reconciler = startReconciler({
 *   pool, schema: 'oncely', intervalSeconds: 30, graceSeconds: reconcileGraceSeconds(5),
 *   withoutLiveJob: commandsWithoutLiveJob, enqueue: queue.enqueue, log,
 *   onReconciled: (n) => reconciledTotal.inc(n),
 * });
 * await reconciler.stop();
 */
export function startReconciler(settings: ReconcilerSettings): Reconciler {
  const pageSize = settings.pageSize ?? 2000;
  const maxPages = settings.maxPagesPerSweep ?? 3;
  const logIdsLimit = settings.logIdsLimit ?? 20;
  // Where this process's next sweep goes on from; undefined: from the oldest.
  let cursor: Cursor | undefined;
  let running: Promise<SweepResult> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const sweepOnce = async (): Promise<SweepResult> => {
    const result: SweepResult = { requeued: [], examined: 0, skipped: false };
    for (let page = 0; page < maxPages; page++) {
      const outcome = await reconcilePage(settings, cursor, pageSize);
      if (outcome === null) {
        result.skipped = page === 0;
        break;
      }
      result.requeued.push(...outcome.requeued);
      result.examined += outcome.examined;
      cursor = outcome.next;
      if (!outcome.next) break;
    }
    if (result.requeued.length > 0) {
      settings.onReconciled?.(result.requeued.length);
      settings.log.warn(
        {
          reconciled: result.requeued.length,
          examined: result.examined,
          commands: result.requeued.slice(0, logIdsLimit).map((ref) => ({ clientId: ref.clientId, id: ref.id })),
        },
        'queued again commands that had no live job',
      );
    }
    return result;
  };

  const sweep = (): Promise<SweepResult> => {
    // Sweeps of one process never overlap: a caller during a sweep shares its result.
    running ??= sweepOnce().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      sweep()
        .catch((err: unknown) => {
          // Expected while the database restarts: the next interval tries again.
          settings.log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'reconcile sweep failed');
        })
        .finally(schedule);
    }, settings.intervalSeconds * 1000);
    timer.unref();
  };
  schedule();

  return {
    sweep,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
