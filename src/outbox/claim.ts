// The relay's statements: claim the heads of entities, mark what a broker confirmed, sweep what is old.
//
// Why one entity's events go out in stored order with any number of relays: a relay only ever locks the
// HEAD of an entity (its earliest unsent event), with SKIP LOCKED, and takes the events behind that head
// only while holding the head's lock. Another relay sees the head unsent until the holder commits; it
// cannot lock the head (skipped), and nothing behind it is a head in its snapshot, so it skips the whole
// entity. The holder marks everything it published in the transaction that holds the lock, so when the
// next relay sees those events sent, they are sent (and a row re-checked under FOR UPDATE is excluded).
import type { Sql } from '../core/command.ts';

/** An event row as the relay reads it. */
export interface EventRow {
  sequence: number;
  id: string;
  client_id: string;
  command_id: string;
  position: number;
  type: string;
  entity_id: string;
  payload: Record<string, unknown>;
  created_at: Date;
}

// $1: the most events to take. Heads are locked in sequence order (oldest entities first); behind each
// locked head come that entity's next unsent events, up to $1 in all, in sequence order.
const CLAIM = `
  WITH heads AS (
    SELECT e.sequence, e.entity_id FROM outbox_events e
    WHERE e.sent_at IS NULL
      AND NOT EXISTS (
        SELECT 1 FROM outbox_events p
        WHERE p.entity_id = e.entity_id AND p.sent_at IS NULL AND p.sequence < e.sequence)
    ORDER BY e.sequence
    LIMIT $1
    FOR UPDATE SKIP LOCKED
  )
  SELECT e.sequence, e.id, e.client_id, e.command_id, e.position, e.type, e.entity_id, e.payload, e.created_at
  FROM outbox_events e JOIN heads h ON h.entity_id = e.entity_id
  WHERE e.sent_at IS NULL AND e.sequence >= h.sequence
  ORDER BY e.sequence
  LIMIT $1`;

// Only rows still unsent: the count tells the relay how many it marked.
const MARK_SENT = `UPDATE outbox_events SET sent_at = now() WHERE sequence = ANY($1::bigint[]) AND sent_at IS NULL`;

const OLDEST_UNSENT_AGE = `
  SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS seconds
  FROM outbox_events WHERE sent_at IS NULL`;

// Sent rows only, never an unsent one; bounded per statement. A row a relay holds is skipped, not waited for.
const SWEEP_SENT = `
  WITH doomed AS (
    SELECT sequence FROM outbox_events
    WHERE sent_at IS NOT NULL AND sent_at < now() - $1::bigint * interval '1 millisecond'
    ORDER BY sent_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  )
  DELETE FROM outbox_events o USING doomed d WHERE o.sequence = d.sequence AND o.sent_at IS NOT NULL`;

/**
 * Locks up to `limit` events that are heads of their entity (plus the events behind them) in the caller's
 * transaction, in sequence order. Hold the transaction open until they are published and marked.
 *
 * @example
 * const events = await claimEvents(client, 100);
 */
export async function claimEvents(sql: Sql, limit: number): Promise<EventRow[]> {
  const { rows } = await sql.query<EventRow>(CLAIM, [limit]);
  return rows;
}

/**
 * Marks events sent (in the transaction that claimed them); returns how many were still unsent.
 *
 * @example
 * await markSent(client, [1, 2, 3]);
 */
export async function markSent(sql: Sql, sequences: readonly number[]): Promise<number> {
  if (sequences.length === 0) return 0;
  const { rowCount } = await sql.query(MARK_SENT, [sequences]);
  return rowCount ?? 0;
}

/**
 * Seconds since the oldest unsent event was stored (0 when none is waiting): the relay's lag.
 *
 * @example
 * const lag = await oldestUnsentAge(pool);
 */
export async function oldestUnsentAge(sql: Sql): Promise<number> {
  const { rows } = await sql.query<{ seconds: number }>(OLDEST_UNSENT_AGE);
  return Number(rows[0]?.seconds ?? 0);
}

/**
 * Deletes at most `limit` events sent more than `retentionMs` ago; returns how many.
 *
 * @example
 * const deleted = await sweepSent(pool, 7 * 86_400_000, 1000);
 */
export async function sweepSent(sql: Sql, retentionMs: number, limit: number): Promise<number> {
  const { rowCount } = await sql.query(SWEEP_SENT, [Math.round(retentionMs), limit]);
  return rowCount ?? 0;
}
