import { isPlanned, type Sql } from '../core/command.ts';
import { isTerminal, type Command, type CommandError } from '../core/envelope.ts';
import type { Outcome } from '../core/outcome.ts';
import type { Registry } from '../core/registry.ts';
import { copyPayload, storedEvents, type EventDraft } from '../core/event.ts';
import { describeFailure, isConnectionLost, isRetryable } from './errors.ts';
import { commandsSql, type CommandRow } from '../db/commands-sql.ts';
import { outboxSql } from '../db/outbox-sql.ts';

/** One delivery of a command's job. */
export interface Delivery {
  clientId: string;
  id: string;
  /** The entity the command acts on, when the queue knows it (for lock ordering in a batch). */
  entityId: string;
  /** 1 for the first delivery. */
  attempt: number;
  /** Whether the queue will give up after this attempt. */
  lastAttempt: boolean;
}

/** What the queue should do with the job; whatever it is, it commits with the transaction. */
export type Settlement = (
  | { kind: 'complete'; outcome: Outcome['status'] | 'already-terminal' | 'missing' }
  /** Run it again after `delaySeconds`; the command row already says `retrying` (or is untouched). */
  | { kind: 'retry'; error: CommandError; delaySeconds: number }
  /** The command ended `dead`: the job is done, and a copy goes to the dead-letter queue for operators. */
  | { kind: 'dead'; error: CommandError }
) & {
  /** The command's type and submission time, when its row was read (metrics: outcomes by type, submit-to-terminal). */
  command?: { type: string; submittedAt: Date };
};

export interface ApplyHooks {
  /** Called inside the transaction once the effect and outcome are written (fault injection in tests). */
  beforeSettle?: (delivery: Delivery) => void | Promise<void>;
}

export interface ApplyOptions {
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  /** Handler failures (not transient database errors) after which a command is dead: RETRY_LIMIT. */
  maxFailures: number;
  /** Imperative handlers of a batch stop starting after this long; the rest are deferred (inside the job expiry). */
  batchBudgetMs?: number;
  /** The cap of the exponential backoff after a handler failure (RETRY_DELAY_MAX_SECONDS). */
  retryDelayMaxSeconds?: number;
  /** Per-statement lock wait inside a batch: a blocked command gives way instead of holding the batch. */
  lockTimeoutMs?: number;
  hooks?: ApplyHooks;
  /** Observes a batch for tracing (src/tracing/batch.ts); never changes what is applied. */
  tracer?: ApplyTracer;
}

export interface ApplyTracer {
  /** The batch's command rows, just locked: each carries the trace context stored at its submission. */
  locked(rows: readonly CommandRow[]): void;
}

const SAVEPOINT = 'oncely_command';
const EFFECT = 'oncely_effect';

/**
 * Applies one delivery of a command inside the caller's transaction: lock the command row, skip it if an
 * earlier delivery already ended it, run its handler, record the outcome. The caller settles the job in the
 * same transaction and commits; one command, one commit.
 *
 * Refusals and conflicts roll back to a savepoint so they leave no trace in business tables. A thrown
 * handler is recorded as `retrying` (or `dead` on the last attempt) and the job is failed, so the queue's
 * backoff decides when it runs again.
 *
 * @example
 * const settlement = await applyDelivery(sql, registry, { clientId: 'anonymous', id: 'c1', attempt: 1, lastAttempt: false });
 */
/** The command a stored row holds, with its payload as its definition parsed it. */
export function commandOf(row: CommandRow, payload: unknown): Command {
  return { clientId: row.client_id, id: row.id, type: row.type, entityId: row.entity_id, expectedVersion: row.expected_version ?? undefined, payload };
}

export async function applyDelivery(sql: Sql, registry: Registry, delivery: Delivery, options: ApplyOptions): Promise<Settlement> {
  // Everything for this command happens under its own savepoint, so in a batch one command's failure
  // (a lock timeout, a deadlock, a bug) rolls back that command alone.
  await sql.query(`SAVEPOINT ${SAVEPOINT}`);
  try {
    const row = await commandsSql(options.schema).lock(sql, delivery.clientId, delivery.id);
    if (!row || isTerminal(row.status)) {
      await sql.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      return { kind: 'complete', outcome: row ? 'already-terminal' : 'missing' };
    }
    const definition = registry.get(row.type);
    if (!definition) throw new Error(`no handler is registered for command type ${row.type}`);
    if (isPlanned(definition)) throw new Error(`command type ${row.type} is planned: it is applied by applyBatch`);
    const payload: unknown = definition.payload.parse(row.payload);
    await sql.query(`SAVEPOINT ${EFFECT}`);
    const drafts: EventDraft[] = [];
    const command = commandOf(row, payload);
    const outcome = await definition.handle({
      sql,
      command,
      emit: (event) => void drafts.push({ type: event.type, entityId: event.entityId, payload: copyPayload(event.payload) }),
    });
    // Events go in with the effect, under the same savepoint; a refusal must leave nothing behind, whatever
    // the handler wrote or emitted before it decided to refuse.
    if (outcome.status === 'succeeded') await outboxSql(options.schema).insert(sql, storedEvents(command, drafts));
    await sql.query(outcome.status === 'succeeded' ? `RELEASE SAVEPOINT ${EFFECT}` : `ROLLBACK TO SAVEPOINT ${EFFECT}`);
    const result = outcome.status === 'succeeded' ? outcome.result : null;
    const error = outcome.status === 'succeeded' ? null : outcome.error;
    await commandsSql(options.schema).recordOutcome(sql, row.client_id, row.id, outcome.status, delivery.attempt, result, error);
    await sql.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    await options.hooks?.beforeSettle?.(delivery);
    return { kind: 'complete', outcome: outcome.status };
  } catch (err) {
    // Without a connection nothing can be recorded here; the queue fails the job on another one.
    if (isConnectionLost(err)) throw err;
    await sql.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    return recordFailure(sql, delivery, err, options);
  }
}

/** Transient failures may use this many times RETRY_LIMIT attempts before a command is given up. */
export const TRANSIENT_ATTEMPTS_FACTOR = 10;

/** The cap of the backoff after transient failures (a lost connection, a lock timeout, a restarted server). */
export const TRANSIENT_RETRY_MAX_SECONDS = 3;

/**
 * Records a failed attempt on the command row (`retrying`, or `dead` once the handler itself failed
 * RETRY_LIMIT times) and says how to settle its job. Transient failures say nothing about the command and
 * back off exponentially but briefly (1, 2, then 3 s); a handler that throws backs off exponentially up to
 * RETRY_DELAY_MAX_SECONDS.
 */
export async function recordFailure(sql: Sql, delivery: Delivery, err: unknown, options: ApplyOptions): Promise<Settlement> {
  const error = describeFailure(err);
  const transient = isRetryable(err);
  const row = await commandsSql(options.schema).recordFailure(sql, {
    clientId: delivery.clientId,
    id: delivery.id,
    handlerFailed: !transient,
    lastAttempt: delivery.lastAttempt,
    maxFailures: options.maxFailures,
    attempt: delivery.attempt,
    error,
    maxAttempts: options.maxFailures * TRANSIENT_ATTEMPTS_FACTOR,
  });
  if (row === undefined) return { kind: 'complete', outcome: 'already-terminal' };
  if (row.status === 'dead') return { kind: 'dead', error };
  // Counted on the row: a retry is a fresh job, whose own attempt count starts again.
  const delaySeconds = transient
    ? Math.min(TRANSIENT_RETRY_MAX_SECONDS, 2 ** Math.max(0, row.attempts - 1))
    : Math.min(options.retryDelayMaxSeconds ?? 60, 2 ** Math.max(0, row.failures - 1));
  return { kind: 'retry', error, delaySeconds };
}

/** Ends a command whose job the queue gave up on at `deadLetteredAt`, unless it ended or was replayed since. */
export async function markDead(sql: Sql, schema: string, clientId: string, id: string, deadLetteredAt: Date): Promise<void> {
  await commandsSql(schema).markDead(sql, clientId, id, deadLetteredAt);
}
