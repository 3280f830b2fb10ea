import type { Sql } from '../core/command.ts';
import { isTerminal, type CommandError } from '../core/envelope.ts';
import type { Outcome } from '../core/outcome.ts';
import type { Registry } from '../core/registry.ts';
import { describeFailure, isConnectionLost } from './errors.ts';
import { LOCK_COMMAND, MARK_DEAD, RECORD_OUTCOME, type CommandRow } from './sql.ts';

/** One delivery of a command's job. */
export interface Delivery {
  clientId: string;
  id: string;
  /** 1 for the first delivery. */
  attempt: number;
  /** Whether the queue will give up after this attempt. */
  lastAttempt: boolean;
}

/** What the queue should do with the job; whatever it is, it commits with the transaction. */
export type Settlement =
  | { kind: 'complete'; outcome: Outcome['status'] | 'already-terminal' | 'missing' }
  | { kind: 'fail'; error: CommandError; dead: boolean };

export interface ApplyHooks {
  /** Called inside the transaction once the effect and outcome are written (fault injection in tests). */
  beforeSettle?: (delivery: Delivery) => void | Promise<void>;
}

const SAVEPOINT = 'oncely_apply';

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
export async function applyDelivery(sql: Sql, registry: Registry, delivery: Delivery, hooks: ApplyHooks = {}): Promise<Settlement> {
  const { rows } = await sql.query<CommandRow>(LOCK_COMMAND, [delivery.clientId, delivery.id]);
  const row = rows[0];
  if (!row) return { kind: 'complete', outcome: 'missing' };
  if (isTerminal(row.status)) return { kind: 'complete', outcome: 'already-terminal' };

  const definition = registry.get(row.type);
  await sql.query(`SAVEPOINT ${SAVEPOINT}`);
  try {
    if (!definition) throw new Error(`no handler is registered for command type ${row.type}`);
    const payload = definition.payload.parse(row.payload);
    const outcome = await definition.handle({
      sql,
      command: {
        clientId: row.client_id,
        id: row.id,
        type: row.type,
        entityId: row.entity_id,
        expectedVersion: row.expected_version ?? undefined,
        payload,
      },
    });
    // A refusal must leave nothing behind, whatever the handler wrote before it decided to refuse.
    await sql.query(outcome.status === 'succeeded' ? `RELEASE SAVEPOINT ${SAVEPOINT}` : `ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    const result = outcome.status === 'succeeded' ? outcome.result : null;
    const error = outcome.status === 'succeeded' ? null : outcome.error;
    await sql.query(RECORD_OUTCOME, [row.client_id, row.id, outcome.status, delivery.attempt, jsonOrNull(result), jsonOrNull(error)]);
    await hooks.beforeSettle?.(delivery);
    return { kind: 'complete', outcome: outcome.status };
  } catch (err) {
    // Without a connection nothing can be recorded here; the queue fails the job on another one.
    if (isConnectionLost(err)) throw err;
    await sql.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    const error = describeFailure(err);
    const dead = delivery.lastAttempt;
    await sql.query(RECORD_OUTCOME, [row.client_id, row.id, dead ? 'dead' : 'retrying', delivery.attempt, null, JSON.stringify(error)]);
    return { kind: 'fail', error, dead };
  }
}

/** Ends a command whose job the queue gave up on, unless an attempt already ended it. */
export async function markDead(sql: Sql, clientId: string, id: string): Promise<void> {
  await sql.query(MARK_DEAD, [clientId, id]);
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
