import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, primaryKey, text, timestamp, type PgSchema } from 'drizzle-orm/pg-core';
import { COMMAND_STATUSES, type CommandError } from '../core/envelope.ts';
import { IN_FLIGHT_STATUSES, statusIn } from './statuses.ts';

/** One row per accepted command: its identity, fingerprint, lifecycle and stored outcome, in `schema`. */
export function commandsTable<S extends string>(schema: PgSchema<S>) {
  return schema.table(
    'commands',
    {
      clientId: text('client_id').notNull(),
      id: text('id').notNull(),
      type: text('type').notNull(),
      entityId: text('entity_id').notNull(),
      expectedVersion: integer('expected_version'),
      payload: jsonb('payload').notNull(),
      fingerprint: text('fingerprint').notNull(),
      status: text('status', { enum: COMMAND_STATUSES }).notNull(),
      attempts: integer('attempts').notNull().default(0),
      /** Attempts whose handler threw something other than a transient database error. */
      failures: integer('failures').notNull().default(0),
      result: jsonb('result'),
      error: jsonb('error').$type<CommandError>(),
      submittedAt: timestamp('submitted_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
      updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
      completedAt: timestamp('completed_at', { withTimezone: true, precision: 3 }),
      /** W3C traceparent of the submission span (null when tracing was off): the worker's spans continue that trace. */
      traceParent: text('trace_parent'),
    },
    (t) => [
      // Command ids are unique per client: the idempotency key.
      primaryKey({ columns: [t.clientId, t.id] }),
      check('commands_status_check', sql`${t.status} in (${sql.raw(statusIn(COMMAND_STATUSES))})`),
      index('commands_dead_letters_idx')
        .on(t.clientId, t.completedAt, t.id)
        .where(sql`${t.status} = 'dead'`),
      // Commands not yet ended, oldest first: the queue gauges, /v1/stats and the reconciler read only these.
      // A command enters it once, at submission; its terminal version is outside the predicate.
      index('commands_in_flight_idx')
        .on(t.submittedAt)
        .where(sql`${t.status} in (${sql.raw(statusIn(IN_FLIGHT_STATUSES))})`),
    ],
  );
}
