// Every statement over oncely's `outbox_events` table (docs/outbox.md): storing events with their command's
// effect, the relay's claim and mark, its lag gauge and its retention sweep. One builder per schema, as in
// src/db/commands-sql.ts.
//
// Why one entity's events go out in stored order with any number of relays: a relay only ever locks the
// HEAD of an entity (its earliest unsent event), with SKIP LOCKED, and takes the events behind that head
// only while holding the head's lock. Another relay sees the head unsent until the holder commits; it
// cannot lock the head (skipped), and nothing behind it is a head in its snapshot, so it skips the whole
// entity. The holder marks everything it published in the transaction that holds the lock, so when the
// next relay sees those events sent, they are sent (and a row re-checked under FOR UPDATE is excluded).
import type { Sql } from '../core/command.ts';
import type { StoredEvent } from '../core/event.ts';
import { perSchema, qualified } from './engine-schema.ts';
import { arrayLiteral, jsonArrayLiteral } from './json.ts';
import type { OutboxEventRow } from './schema.ts';

/** An event row as the relay reads it. */
export type EventRow = Omit<OutboxEventRow, 'sent_at' | 'payload'> & { payload: Record<string, unknown> };

const statements = perSchema((schema) => {
  const events = qualified(schema, 'outbox_events');
  return {
    // WITH ORDINALITY + ORDER BY: sequence numbers are drawn in the order given (batch order, then position),
    // so one entity's events from one batch keep the order its commands were decided in.
    insert: `
      INSERT INTO ${events} (id, client_id, command_id, position, type, entity_id, payload)
      SELECT id, client_id, command_id, position, type, entity_id, payload
      FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::jsonb[])
        WITH ORDINALITY AS e(id, client_id, command_id, position, type, entity_id, payload, n)
      ORDER BY n`,

    // $1: the most events to take. Heads are locked in sequence order (oldest entities first); behind each
    // locked head come that entity's next unsent events, up to $1 in all, in sequence order.
    claim: `
      WITH heads AS (
        SELECT e.sequence, e.entity_id FROM ${events} e
        WHERE e.sent_at IS NULL
          AND NOT EXISTS (
            SELECT 1 FROM ${events} p
            WHERE p.entity_id = e.entity_id AND p.sent_at IS NULL AND p.sequence < e.sequence)
        ORDER BY e.sequence
        LIMIT $1
        FOR UPDATE SKIP LOCKED
      )
      SELECT e.sequence, e.id, e.client_id, e.command_id, e.position, e.type, e.entity_id, e.payload, e.created_at
      FROM ${events} e JOIN heads h ON h.entity_id = e.entity_id
      WHERE e.sent_at IS NULL AND e.sequence >= h.sequence
      ORDER BY e.sequence
      LIMIT $1`,

    // Only rows still unsent: the count tells the relay how many it marked.
    markSent: `UPDATE ${events} SET sent_at = now() WHERE sequence = ANY($1::bigint[]) AND sent_at IS NULL`,

    oldestUnsentAge: `
      SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS seconds
      FROM ${events} WHERE sent_at IS NULL`,

    // Sent rows only, never an unsent one; bounded per statement. A row a relay holds is skipped, not waited for.
    sweepSent: `
      WITH doomed AS (
        SELECT sequence FROM ${events}
        WHERE sent_at IS NOT NULL AND sent_at < now() - $1::bigint * interval '1 millisecond'
        ORDER BY sent_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
      )
      DELETE FROM ${events} o USING doomed d WHERE o.sequence = d.sequence AND o.sent_at IS NOT NULL`,
  };
});

/** The statement texts over `"<schema>"."outbox_events"`. */
export const outboxStatements = statements;

/**
 * The operations over `"<schema>"."outbox_events"`, each one statement.
 *
 * @example
 * const events = await outboxSql('oncely').claim(client, 100);
 */
export const outboxSql = perSchema((schema) => {
  const text = statements(schema);
  return {
    /**
     * Inserts events in the caller's transaction, in the order given. An id stored twice (a bug: a command's
     * events are written once, with its outcome) fails the statement and so the transaction.
     */
    async insert(sql: Sql, events: readonly StoredEvent[]): Promise<void> {
      if (events.length === 0) return;
      // Each array's literal built by one JSON.stringify (src/db/json.ts), not by pg escaping every element.
      await sql.query(text.insert, [
        arrayLiteral(events.map((e) => e.id)),
        arrayLiteral(events.map((e) => e.clientId)),
        arrayLiteral(events.map((e) => e.commandId)),
        arrayLiteral(events.map((e) => e.position)),
        arrayLiteral(events.map((e) => e.type)),
        arrayLiteral(events.map((e) => e.entityId)),
        // JSON.stringify, not jsonOrNull: a null payload is stored as JSON null, as it always was.
        jsonArrayLiteral(events.map((e) => JSON.stringify(e.payload))),
      ]);
    },
    /**
     * Locks up to `limit` events that are heads of their entity (plus the events behind them) in the caller's
     * transaction, in sequence order. Hold the transaction open until they are published and marked.
     */
    async claim(sql: Sql, limit: number): Promise<EventRow[]> {
      return (await sql.query<EventRow>(text.claim, [limit])).rows;
    },
    /** Marks events sent (in the transaction that claimed them); returns how many were still unsent. */
    async markSent(sql: Sql, sequences: readonly number[]): Promise<number> {
      if (sequences.length === 0) return 0;
      return (await sql.query(text.markSent, [sequences])).rowCount ?? 0;
    },
    /** Seconds since the oldest unsent event was stored (0 when none is waiting): the relay's lag. */
    async oldestUnsentAge(sql: Sql): Promise<number> {
      return Number((await sql.query<{ seconds: number }>(text.oldestUnsentAge)).rows[0]?.seconds ?? 0);
    },
    /** Deletes at most `limit` events sent more than `retentionMs` ago; returns how many. */
    async sweepSent(sql: Sql, retentionMs: number, limit: number): Promise<number> {
      return (await sql.query(text.sweepSent, [Math.round(retentionMs), limit])).rowCount ?? 0;
    },
  };
});
