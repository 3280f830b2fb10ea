// The live figures behind GET /v1/stats and /dashboard, read from the commands table. Every statement is
// bounded: the figures cover a fixed recent window, the dead-letter list has a LIMIT, and one read is shared
// by every caller for a second, so any number of open dashboards costs one pass a second.
import type pg from 'pg';
import type { CommandStatus } from '../core/envelope.ts';
import { commandsSql } from '../db/commands-sql.ts';
import { sqlOf, withTransaction } from '../db/pool.ts';
import { toCommandStatus } from './status.ts';

/** How far back the throughput series and the outcome counts reach. */
export const STATS_WINDOW_SECONDS = 180;
/** Width of one throughput bucket. */
export const STATS_BUCKET_SECONDS = 5;
/** How far back the submit-to-terminal percentiles reach. */
export const LATENCY_WINDOW_SECONDS = 60;
/** How far back the headline rates reach. */
export const RATE_WINDOW_SECONDS = 10;
/** The newest dead letters listed. */
export const NEWEST_DEAD_LETTERS = 10;
/** A dashboard must never hold a connection for long, however large the table grows. */
export const STATS_STATEMENT_TIMEOUT_MS = 2000;

export type Outcome = 'succeeded' | 'rejected' | 'conflict' | 'dead';
export const OUTCOMES: readonly Outcome[] = ['succeeded', 'rejected', 'conflict', 'dead'];

export interface ThroughputBucket {
  /** Start of the bucket. */
  at: string;
  submitted: number;
  succeeded: number;
  rejected: number;
  conflict: number;
  dead: number;
}

export interface DatabaseStats {
  at: string;
  windowSeconds: number;
  bucketSeconds: number;
  /** Oldest first, ending with the bucket that holds `at`; every bucket present, zero-filled. */
  throughput: ThroughputBucket[];
  /** Terminal outcomes within the window. */
  outcomes: Record<Outcome, number>;
  rates: { windowSeconds: number; submittedPerSecond: number; completedPerSecond: number };
  latency: { windowSeconds: number; count: number; p50: number | null; p90: number | null; p99: number | null };
  queue: { queued: number; retrying: number; depth: number; oldestQueuedSeconds: number | null };
  deadLetters: { count: number; newest: CommandStatus[] };
}

type SharedFigures = Omit<DatabaseStats, 'deadLetters'> & { deadLetterCount: number };

const round = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? null : Math.round(seconds * 1e6) / 1e6);

async function readShared(pool: pg.Pool, schema: string): Promise<SharedFigures> {
  const [row, dead] = await withTransaction(pool, async (client) => {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [String(STATS_STATEMENT_TIMEOUT_MS)]);
    const sql = sqlOf(client);
    const figures = await commandsSql(schema).recentFigures(sql, {
      window: STATS_WINDOW_SECONDS,
      bucket: STATS_BUCKET_SECONDS,
      latency: LATENCY_WINDOW_SECONDS,
      rate: RATE_WINDOW_SECONDS,
    });
    return [figures, await commandsSql(schema).countDead(sql, null)] as const;
  });

  if (!row) throw new Error('the stats statement returned no row');
  const atSeconds = row.at.getTime() / 1000;
  const lastSlot = Math.floor(atSeconds / STATS_BUCKET_SECONDS);
  const slots = STATS_WINDOW_SECONDS / STATS_BUCKET_SECONDS;
  const throughput: ThroughputBucket[] = Array.from({ length: slots }, (_, i) => ({
    at: new Date((lastSlot - slots + 1 + i) * STATS_BUCKET_SECONDS * 1000).toISOString(),
    submitted: 0,
    succeeded: 0,
    rejected: 0,
    conflict: 0,
    dead: 0,
  }));
  const outcomes: Record<Outcome, number> = { succeeded: 0, rejected: 0, conflict: 0, dead: 0 };
  for (const { slot, status, n } of row.buckets as { slot: number; status: Outcome | 'submitted'; n: number }[]) {
    const bucket = throughput[Number(slot) - (lastSlot - slots + 1)];
    if (status !== 'submitted' && status in outcomes) outcomes[status] += Number(n);
    if (bucket && (status === 'submitted' || status in outcomes)) bucket[status] += Number(n);
  }
  const [p50, p90, p99] = row.latency ?? [];
  return {
    at: row.at.toISOString(),
    windowSeconds: STATS_WINDOW_SECONDS,
    bucketSeconds: STATS_BUCKET_SECONDS,
    throughput,
    outcomes,
    rates: {
      windowSeconds: RATE_WINDOW_SECONDS,
      submittedPerSecond: row.rate_submitted / RATE_WINDOW_SECONDS,
      completedPerSecond: row.rate_completed / RATE_WINDOW_SECONDS,
    },
    latency: { windowSeconds: LATENCY_WINDOW_SECONDS, count: row.latency_count, p50: round(p50), p90: round(p90), p99: round(p99) },
    queue: { queued: row.queued, retrying: row.retrying, depth: row.queued + row.retrying, oldestQueuedSeconds: round(row.oldest_queued_seconds) },
    deadLetterCount: dead.count,
  };
}

export interface StatsReader {
  /** The figures, with the dead letters of `clientId` (a client sees only its own commands). */
  read(clientId: string): Promise<DatabaseStats>;
}

/**
 * Reads the dashboard's figures from the database. The system-wide part is read at most once per `maxAgeMs`
 * (default 1000) and shared by concurrent callers; the caller's dead letters are read on every call.
 *
 * @example
 * const stats = createStatsReader(pool, { schema: 'oncely' });
 * const { queue, latency } = await stats.read('anonymous');
 */
export function createStatsReader(pool: pg.Pool, options: { schema: string; maxAgeMs?: number }): StatsReader {
  const maxAgeMs = options.maxAgeMs ?? 1000;
  let cached: { at: number; figures: Promise<SharedFigures> } | undefined;
  function shared(): Promise<SharedFigures> {
    if (cached && Date.now() - cached.at < maxAgeMs) return cached.figures;
    const figures = readShared(pool, options.schema);
    cached = { at: Date.now(), figures };
    // A failed read is not kept: the next caller tries again.
    figures.catch(() => {
      if (cached?.figures === figures) cached = undefined;
    });
    return figures;
  }
  return {
    async read(clientId) {
      const [figures, newest] = await Promise.all([shared(), commandsSql(options.schema).newestDeadLetters(sqlOf(pool), clientId, NEWEST_DEAD_LETTERS)]);
      const { deadLetterCount, ...rest } = figures;
      return { ...rest, deadLetters: { count: deadLetterCount, newest: newest.map(toCommandStatus) } };
    },
  };
}

/** The duplicate stages the metrics name (oncely_duplicates_absorbed_total{stage}). */
export const DUPLICATE_STAGES = ['resubmission', 'in_request', 'redelivery', 'broker', 'inbox'] as const;
export const DUPLICATES_METRIC = 'oncely_duplicates_absorbed_total';

export interface DuplicateCounts {
  /** Whether this process has the counter at all (it is registered by the metrics module). */
  counted: boolean;
  /** The stages the counter reports in this process (a labelled counter shows a stage once it has counted it); [] without the counter. */
  knownStages: string[];
  /** Duplicates absorbed by this process since it started, per stage; zero for a stage not seen. */
  byStage: Record<string, number>;
}

/** The part of a prom-client registry read here (prom-client's `register` fits it). */
export interface MetricSource {
  getSingleMetric(name: string): { get(): Promise<{ values: { labels: Record<string, string | number | undefined>; value: number }[] }> } | undefined;
}

/**
 * This process's duplicate counters by stage, read by name from a prom-client registry. Counters live per
 * process, so these cover only the process that answers.
 *
 * @example
 * import { register } from 'prom-client';
 * const { byStage } = await readDuplicateCounts(register); // { resubmission: 3, in_request: 0, ... }
 */
export async function readDuplicateCounts(source: MetricSource): Promise<DuplicateCounts> {
  const byStage: Record<string, number> = Object.fromEntries(DUPLICATE_STAGES.map((stage) => [stage, 0]));
  const metric = source.getSingleMetric(DUPLICATES_METRIC);
  if (!metric) return { counted: false, knownStages: [], byStage };
  const seen = new Set<string>();
  for (const { labels, value } of (await metric.get()).values) {
    const stage = String(labels['stage'] ?? 'unknown');
    seen.add(stage);
    byStage[stage] = (byStage[stage] ?? 0) + value;
  }
  return { counted: true, knownStages: [...seen].sort(), byStage };
}
