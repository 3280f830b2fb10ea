// Every metric family oncely exports, defined in one place: names, label sets and help texts. Each system
// gets a Registry of its own, so several systems in one process (the tests) never register a name twice;
// prom-client's process metrics are collected once per process into a registry of their own.
import { collectDefaultMetrics, Counter, Gauge, Histogram, register, Registry, type Metric } from 'prom-client';
import type { CommandError } from '../core/envelope.ts';
import { isConnectionLost } from '../processor/errors.ts';

/** How a submission was answered: a new command, a replay of the stored one, a key reused for another request, refused. */
export const ANSWERS = ['new', 'replay', 'reused_key', 'rejected'] as const;
export type Answer = (typeof ANSWERS)[number];

/**
 * Where a duplicate was absorbed: a replayed id (`resubmission`), an id repeated inside one request or one
 * group-commit flush (`in_request`), a job delivered again for an ended command (`redelivery`), a duplicate
 * the queue itself dropped (`broker`), a broker message delivered or published again to the inbox (`inbox`).
 */
export const DUPLICATE_STAGES = ['resubmission', 'in_request', 'redelivery', 'broker', 'inbox'] as const;
export type DuplicateStage = (typeof DUPLICATE_STAGES)[number];

export const OUTCOME_STATUSES = ['succeeded', 'rejected', 'conflict', 'dead'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export const RETRY_REASONS = ['deadlock', 'serialization', 'connection', 'lock_timeout', 'handler_error', 'deferred', 'other'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** The `type` label of anything that is not a registered command type. */
export const UNKNOWN_TYPE = 'unknown';

/** Seconds; from a set-based batch (milliseconds) to a command held back by retries (minutes). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Seconds; wide enough to show a `Prefer: wait` held for its whole 30 seconds. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Commands per applied batch: up to WORKER_BATCH_SIZE jobs of up to 12 commands each. */
const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

/** What the queue gauges show, read from the database at scrape time. */
export interface QueueSnapshot {
  /** Commands queued or retrying. */
  depth: number;
  /** Age of the oldest queued or retrying command (0 when there is none). */
  oldestSeconds: number;
  /** Commands that ended dead (dead letters). */
  dead: number;
}

export interface MetricsOptions {
  /** The registered command types: the only values the `type` label takes besides "unknown". */
  commandTypes: readonly string[];
  /** Reads the queue gauges; without it they are not exported. Called at most once a second, whatever scrapes. */
  queueSnapshot?: () => Promise<QueueSnapshot>;
}

/** A submitted command as the metrics see it. */
export interface SubmittedCommand {
  type: string;
}

/** The command service's answer to one command (see Submission in src/processor/submit.ts). */
export interface SubmissionAnswer {
  outcome: 'accepted' | 'duplicate' | 'reused';
  /** A duplicate of a command stored by the same request or the same group-commit flush. */
  inFlush?: boolean;
}

/** One settled delivery as the worker sees it (see Settlement in src/processor/apply.ts). */
export type SettledDelivery =
  | { kind: 'complete'; outcome: string; command?: { type: string; submittedAt: Date } }
  | { kind: 'retry'; error: CommandError; command?: { type: string; submittedAt: Date } }
  | { kind: 'dead'; error: CommandError; command?: { type: string; submittedAt: Date } };

export interface Metrics {
  /** This system's own registry (not the process metrics: see `render`). */
  readonly registry: Registry;
  /** A registered command type, or "unknown": label values stay bounded whatever clients send. */
  typeLabel(type: unknown): string;
  /** Counts commands answered at submission. */
  submitted(type: unknown, answer: Answer, count?: number): void;
  /** Records the command service's answers to one request, in request order. */
  submissions(commands: readonly SubmittedCommand[], answers: readonly SubmissionAnswer[]): void;
  duplicate(stage: DuplicateStage, count?: number): void;
  /** A command reached a terminal status; `submittedAt` feeds the submit-to-terminal histogram. */
  outcome(type: unknown, status: OutcomeStatus, submittedAt?: Date): void;
  retry(reason: RetryReason, count?: number): void;
  /** Records one settled delivery at the worker: its outcome, a redelivery absorbed, or a retry. */
  settled(settlement: SettledDelivery): void;
  /** One batch applied (or failed) by a worker: its size and how long it took. */
  batch(commands: number, seconds: number): void;
  /** Runs a worker's `apply` for a batch of `commands`, timing it; a batch that throws counts a retry for each command. */
  timeBatch<T>(commands: number, apply: () => Promise<T>): Promise<T>;
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  /** A request starts (+1) or stops (-1) holding a `Prefer: wait`. */
  waiting(delta: 1 | -1): void;
  /** The most requests this process lets hold a `Prefer: wait` at once. */
  waitingLimit(limit: number): void;
  reconciled(count?: number): void;
  purged(count?: number): void;
  /** The exposition: this system's metrics, the process metrics and any metric on prom-client's default registry. */
  render(): Promise<{ contentType: string; body: string }>;
}

let processRegistry: Registry | undefined;

/** prom-client's default process metrics, collected once per process (each collection starts its own monitors). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const SQLSTATE = /SQLSTATE ([0-9A-Z]{5})/;

/**
 * Why a command goes back to the queue, from the error its settlement carries (src/processor/errors.ts
 * describes transient failures as `transient_error` with the SQLSTATE in the message, if there is one).
 *
 * @example
 * retryReasonOf({ code: 'transient_error', message: 'transient database failure (SQLSTATE 40P01)' }); // 'deadlock'
 */
export function retryReasonOf(error: { code?: string; message?: string }): RetryReason {
  if (error.code === 'deferred') return 'deferred';
  if (error.code === 'handler_error') return 'handler_error';
  const sqlstate = SQLSTATE.exec(error.message ?? '')?.[1];
  if (error.code === 'transient_error') return sqlstate === undefined ? 'connection' : reasonOfSqlstate(sqlstate);
  return 'other';
}

/** Why a whole batch failed (it threw: its jobs are retried by the queue), from the error itself. */
export function retryReasonOfError(err: unknown, connectionLost: boolean): RetryReason {
  if (connectionLost) return 'connection';
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  return code === undefined ? 'other' : reasonOfSqlstate(code);
}

function reasonOfSqlstate(sqlstate: string): RetryReason {
  if (sqlstate === '40P01') return 'deadlock';
  if (sqlstate === '40001') return 'serialization';
  if (sqlstate === '55P03') return 'lock_timeout';
  if (sqlstate.startsWith('08') || sqlstate.startsWith('57P')) return 'connection';
  return 'other';
}

/**
 * Creates every oncely metric family on a registry of its own, with typed helpers to record them.
 *
 * @example
 * const metrics = createMetrics({ commandTypes: registry.types, queueSnapshot: () => readQueueSnapshot(pool) });
 * metrics.submitted('account.credit', 'new');
 * const { contentType, body } = await metrics.render();
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const known = new Set(options.commandTypes);
  const typeLabel = (type: unknown) => (typeof type === 'string' && known.has(type) ? type : UNKNOWN_TYPE);

  const { counter, gauge, histogram } = familiesOn(registry);
  const submittedTotal = counter(
    'oncely_commands_submitted_total',
    'Commands answered at submission, by type and answer (new, replay of the stored command, reused_key: same id with another request, rejected: never stored).',
    ['type', 'answer'],
  );
  const duplicates = counter(
    'oncely_duplicates_absorbed_total',
    'Duplicates absorbed without a second effect, by stage: resubmission, in_request (one request or one group-commit flush), redelivery (a job for an ended command), broker, inbox (a broker message seen again).',
    ['stage'],
  );
  const outcomes = counter('oncely_command_outcomes_total', 'Commands that reached a terminal status at a worker, by type and status.', ['type', 'status']);
  const submitToTerminal = histogram('oncely_submit_to_terminal_seconds', 'Time from a command being stored to its terminal status, retries included.', LATENCY_BUCKETS);
  const applySeconds = histogram('oncely_apply_batch_seconds', 'Time a worker took to apply one batch in its transaction (before the commit).', LATENCY_BUCKETS);
  const batchCommands = histogram('oncely_batch_commands', 'Commands per batch a worker applied in one transaction.', BATCH_BUCKETS);
  const retries = counter(
    'oncely_retries_total',
    'Command attempts that go back to the queue, by reason (deadlock, serialization, connection, lock_timeout, handler_error, deferred, other).',
    ['reason'],
  );
  const waitingRequests = gauge('oncely_waiting_requests', 'Requests holding a Prefer: wait in this process right now.');
  const waitingRequestsLimit = gauge(
    'oncely_waiting_requests_limit',
    'The most requests this process lets hold a Prefer: wait at once; beyond it the preference is ignored.',
  );
  const reconciledTotal = counter('oncely_reconciled_total', 'Commands the reconciler found stuck and put back on the queue.');
  const purgedTotal = counter('oncely_purged_commands_total', 'Ended commands purged after the retention period.');
  const httpRequests = counter('oncely_http_requests_total', 'HTTP requests by method, route pattern (never the raw path) and status.', ['method', 'route', 'status']);
  const httpDuration = histogram('oncely_http_request_duration_seconds', 'HTTP request duration by method and route pattern.', HTTP_BUCKETS, ['method', 'route']);

  // Series that exist from the start, so rate() and alerts see a 0 before the first increment.
  for (const stage of DUPLICATE_STAGES) duplicates.inc({ stage }, 0);
  for (const reason of RETRY_REASONS) retries.inc({ reason }, 0);

  if (options.queueSnapshot) defineQueueGauges(registry, options.queueSnapshot);

  const metrics: Metrics = {
    registry,
    typeLabel,
    submitted(type, answer, count = 1) {
      submittedTotal.inc({ type: typeLabel(type), answer }, count);
    },
    submissions(commands, answers) {
      for (const [i, answer] of answers.entries()) {
        const type = commands[i]?.type;
        if (answer.outcome === 'accepted') metrics.submitted(type, 'new');
        else if (answer.outcome === 'reused') metrics.submitted(type, 'reused_key');
        else {
          metrics.submitted(type, 'replay');
          duplicates.inc({ stage: answer.inFlush ? 'in_request' : 'resubmission' });
        }
      }
    },
    duplicate(stage, count = 1) {
      duplicates.inc({ stage }, count);
    },
    outcome(type, status, submittedAt) {
      outcomes.inc({ type: typeLabel(type), status });
      // Clocks of the worker and the database may differ a little; a negative age says nothing.
      if (submittedAt) submitToTerminal.observe(Math.max(0, (Date.now() - submittedAt.getTime()) / 1000));
    },
    retry(reason, count = 1) {
      retries.inc({ reason }, count);
    },
    settled(settlement) {
      const command = settlement.command;
      if (settlement.kind === 'retry') metrics.retry(retryReasonOf(settlement.error));
      else if (settlement.kind === 'dead') metrics.outcome(command?.type, 'dead', command?.submittedAt);
      else if (settlement.outcome === 'already-terminal') metrics.duplicate('redelivery');
      else if ((OUTCOME_STATUSES as readonly string[]).includes(settlement.outcome)) {
        metrics.outcome(command?.type, settlement.outcome as OutcomeStatus, command?.submittedAt);
      }
    },
    batch(commands, seconds) {
      batchCommands.observe(commands);
      applySeconds.observe(seconds);
    },
    async timeBatch(commands, apply) {
      const started = performance.now();
      try {
        return await apply();
      } catch (err) {
        // The queue retries every job of a batch that threw (a lost connection, mostly).
        metrics.retry(retryReasonOfError(err, isConnectionLost(err)), commands);
        throw err;
      } finally {
        metrics.batch(commands, (performance.now() - started) / 1000);
      }
    },
    httpRequest(method, route, status, seconds) {
      httpRequests.inc({ method, route, status: String(status) });
      httpDuration.observe({ method, route }, seconds);
    },
    waiting(delta) {
      waitingRequests.inc(delta);
    },
    waitingLimit(limit) {
      waitingRequestsLimit.set(limit);
    },
    reconciled(count = 1) {
      reconciledTotal.inc(count);
    },
    purged(count = 1) {
      purgedTotal.inc(count);
    },
    async render() {
      // One exposition from three registries: a name this system defines wins over the same name elsewhere.
      const merged = new Registry();
      const names = new Set<string>();
      for (const source of [registry, processMetrics(), register]) {
        for (const metric of source.getMetricsAsArray()) {
          if (names.has(metric.name)) continue;
          names.add(metric.name);
          merged.registerMetric(metric as unknown as Metric);
        }
      }
      return { contentType: merged.contentType, body: await merged.metrics() };
    },
  };
  return metrics;
}

/**
 * Declares metric families on one registry, a line each: name, help, label names (and buckets).
 *
 * @example
 * const { counter } = familiesOn(registry);
 * const published = counter('oncely_outbox_events_published_total', 'Events published, by type.', ['type']);
 */
export function familiesOn(registry: Registry) {
  const registers = [registry];
  return {
    counter: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers }),
    gauge: (name: string, help: string) => new Gauge({ name, help, registers }),
    histogram: <L extends string = never>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []) =>
      new Histogram<L>({ name, help, buckets, labelNames, registers }),
  };
}

/** How long one database read serves every scrape (several Prometheus servers, several gauges). */
const SNAPSHOT_TTL_MS = 1000;

function defineQueueGauges(registry: Registry, read: () => Promise<QueueSnapshot>): void {
  let cached: { at: number; snapshot: Promise<QueueSnapshot | null> } | undefined;
  const snapshot = () => {
    if (!cached || Date.now() - cached.at > SNAPSHOT_TTL_MS) {
      // A failed read shows as NaN (no value), never as a stale or zero one that would hide a problem.
      cached = { at: Date.now(), snapshot: read().catch(() => null) };
    }
    return cached.snapshot;
  };
  const gauge = (name: string, help: string, pick: (s: QueueSnapshot) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const value = await snapshot();
        this.set(value ? pick(value) : Number.NaN);
      },
    });
  gauge('oncely_queue_depth', 'Commands queued or retrying (read from the database at scrape time).', (s) => s.depth);
  gauge('oncely_oldest_queued_seconds', 'Age of the oldest queued or retrying command, 0 when none (read from the database at scrape time).', (s) => s.oldestSeconds);
  gauge('oncely_dead_letters', 'Commands that ended dead and were not replayed (read from the database at scrape time).', (s) => s.dead);
}
