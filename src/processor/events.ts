// Storing emitted events in the outbox (docs/outbox.md): one statement for every event of a batch, in the
// effect's transaction, so an event exists exactly when its command's effect does.
import type { Sql } from '../core/command.ts';
import type { StoredEvent } from '../core/event.ts';

// WITH ORDINALITY + ORDER BY: sequence numbers are drawn in the order given (batch order, then position),
// so one entity's events from one batch keep the order its commands were decided in.
const INSERT_EVENTS = `
  INSERT INTO outbox_events (id, client_id, command_id, position, type, entity_id, payload)
  SELECT id, client_id, command_id, position, type, entity_id, payload
  FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::jsonb[])
    WITH ORDINALITY AS e(id, client_id, command_id, position, type, entity_id, payload, n)
  ORDER BY n`;

/**
 * Inserts events in the caller's transaction, in the order given. An id stored twice (a bug: a command's
 * events are written once, with its outcome) fails the statement and so the transaction.
 *
 * @example
 * await insertEvents(sql, storedEvents(command, drafts));
 */
export async function insertEvents(sql: Sql, events: readonly StoredEvent[]): Promise<void> {
  if (events.length === 0) return;
  await sql.query(INSERT_EVENTS, [
    events.map((e) => e.id),
    events.map((e) => e.clientId),
    events.map((e) => e.commandId),
    events.map((e) => e.position),
    events.map((e) => e.type),
    events.map((e) => e.entityId),
    events.map((e) => JSON.stringify(e.payload)),
  ]);
}
