import { sql } from 'drizzle-orm';
import { bigserial, index, integer, jsonb, text, timestamp, type PgSchema } from 'drizzle-orm/pg-core';

/**
 * The transactional outbox: one row per event a succeeded command emitted, written in the effect's
 * transaction, published by the relay (src/outbox/), deleted by its retention sweep once sent; in `schema`.
 */
export function outboxEventsTable<S extends string>(schema: PgSchema<S>) {
  return schema.table(
    'outbox_events',
    {
      /** Global store order; per entity it is commit order, because an event's entity row is locked by its command. */
      sequence: bigserial('sequence', { mode: 'number' }).primaryKey(),
      /** 'evt_' + 32 hex of sha256(client id, command id, position): the message id at every broker. */
      id: text('id').notNull().unique('outbox_events_id_key'),
      clientId: text('client_id').notNull(),
      commandId: text('command_id').notNull(),
      position: integer('position').notNull(),
      type: text('type').notNull(),
      entityId: text('entity_id').notNull(),
      payload: jsonb('payload').notNull(),
      createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
      /** Null until a broker confirmed the event; set in the transaction that held the claim. */
      sentAt: timestamp('sent_at', { withTimezone: true, precision: 3 }),
    },
    (t) => [
      // The relay's claim: the earliest unsent event of each entity (and whether an earlier one is still unsent).
      index('outbox_events_unsent_entity_idx')
        .on(t.entityId, t.sequence)
        .where(sql`${t.sentAt} is null`),
      // Unsent events in store order: the claim's scan and the lag gauge.
      index('outbox_events_unsent_idx')
        .on(t.sequence)
        .where(sql`${t.sentAt} is null`),
      // Retention: sent events, oldest first.
      index('outbox_events_sent_idx')
        .on(t.sentAt)
        .where(sql`${t.sentAt} is not null`),
    ],
  );
}
