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
  /** The entity the command acts on, when the queue knows it (for lock ordering in a batch). */
  entityId: string;
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
export async function applyDelivery(sql: Sql, registry: Registry, delivery: Delivery, hooks: ApplyHooks = {}): Promise<Settlement> {
  // Everything for this command happens under its own savepoint, so in a batch one command's failure
  // (a lock timeout, a deadlock, a bug) rolls back that command alone.
  await sql.query(`SAVEPOINT ${SAVEPOINT}`);
  try {
    const { rows } = await sql.query<CommandRow>(LOCK_COMMAND, [delivery.clientId, delivery.id]);
    const row = rows[0];
    if (!row || isTerminal(row.status)) {
      await sql.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      return { kind: 'complete', outcome: row ? 'already-terminal' : 'missing' };
    }
    const definition = registry.get(row.type);
    if (!definition) throw new Error(`no handler is registered for command type ${row.type}`);
    const payload = definition.payload.parse(row.payload);
    await sql.query(`SAVEPOINT ${EFFECT}`);
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
    await sql.query(outcome.status === 'succeeded' ? `RELEASE SAVEPOINT ${EFFECT}` : `ROLLBACK TO SAVEPOINT ${EFFECT}`);
    const result = outcome.status === 'succeeded' ? outcome.result : null;
    const error = outcome.status === 'succeeded' ? null : outcome.error;
    await sql.query(RECORD_OUTCOME, [row.client_id, row.id, outcome.status, delivery.attempt, jsonOrNull(result), jsonOrNull(error)]);
    await sql.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    await hooks.beforeSettle?.(delivery);
    return { kind: 'complete', outcome: outcome.status };
  } catch (err) {
    // Without a connection nothing can be recorded here; the queue fails the job on another one.
    if (isConnectionLost(err)) throw err;
    await sql.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
    const error = describeFailure(err);
    const dead = delivery.lastAttempt;
    await sql.query(RECORD_OUTCOME, [delivery.clientId, delivery.id, dead ? 'dead' : 'retrying', delivery.attempt, null, JSON.stringify(error)]);
    await sql.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
    return { kind: 'fail', error, dead };
  }
}

/**
 * Applies a batch of deliveries in the caller's one transaction, each under its own savepoint: one commit
 * for many commands. Deliveries are taken in entity order (stable, so one entity's commands keep their
 * queue order), which makes concurrent batches lock entities in the same order and rarely deadlock.
 */
export async function applyBatch(sql: Sql, registry: Registry, deliveries: readonly Delivery[], hooks: ApplyHooks = {}): Promise<Settlement[]> {
  const order = deliveries.map((delivery, index) => ({ delivery, index }));
  order.sort((a, b) => (a.delivery.entityId < b.delivery.entityId ? -1 : a.delivery.entityId > b.delivery.entityId ? 1 : a.index - b.index));
  const settlements: Settlement[] = new Array<Settlement>(deliveries.length);
  for (const { delivery, index } of order) settlements[index] = await applyDelivery(sql, registry, delivery, hooks);
  return settlements;
}

/** Ends a command whose job the queue gave up on, unless an attempt already ended it. */
export async function markDead(sql: Sql, clientId: string, id: string): Promise<void> {
  await sql.query(MARK_DEAD, [clientId, id]);
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
