import type pg from 'pg';
import type { Sql } from '../core/command.ts';
import type { CommandStatus } from '../core/envelope.ts';
import { fingerprint } from '../core/fingerprint.ts';
import { sqlOf, withTransaction } from '../db/pool.ts';
import { INSERT_COMMANDS, SELECT_COMMANDS, type CommandRow } from './sql.ts';
import { toCommandStatus } from './status.ts';

/** A command ready to store: id settled, payload already valid for its type. */
export interface NewCommand {
  id: string;
  type: string;
  entityId: string;
  expectedVersion: number | undefined;
  payload: unknown;
}

export type Submission =
  | { outcome: 'accepted'; status: CommandStatus }
  | { outcome: 'duplicate'; status: CommandStatus }
  | { outcome: 'reused'; status: CommandStatus };

/** Puts jobs on the queue inside the caller's transaction (implemented by the queue adapter). */
export type Enqueue = (sql: Sql, jobs: readonly JobRef[]) => Promise<void>;

export interface JobRef {
  clientId: string;
  id: string;
  /** Lets a worker order a batch by entity before it locks anything. */
  entityId?: string;
}

/**
 * Stores commands and queues their jobs in the caller's transaction: a command never exists without its
 * job, nor a job without its command. Duplicates come back as the stored status, never as a second command.
 * Use it directly to submit commands atomically with your own writes.
 *
 * @example
 * await withTransaction(pool, async (client) => {
 *   await client.query('insert into my_outbox ...');
 *   return submitInTransaction(sqlOf(client), enqueue, 'anonymous', [{ id: 'c1', type: 'account.open', entityId: 'a1', expectedVersion: undefined, payload: {} }]);
 * });
 */
export async function submitInTransaction(
  sql: Sql,
  enqueue: Enqueue,
  clientId: string,
  commands: readonly NewCommand[],
): Promise<Submission[]> {
  const prints = commands.map((command) => fingerprint(command));
  const records = commands.map((command, i) => ({
    id: command.id,
    type: command.type,
    entity_id: command.entityId,
    expected_version: command.expectedVersion ?? null,
    payload: command.payload,
    fingerprint: prints[i],
  }));
  const { rows: inserted } = await sql.query<CommandRow>(INSERT_COMMANDS, [clientId, JSON.stringify(records)]);
  if (inserted.length > 0) await enqueue(sql, inserted.map((row) => ({ clientId, id: row.id, entityId: row.entity_id })));

  const byId = new Map(inserted.map((row) => [row.id, row]));
  const missing = commands.filter((command) => !byId.has(command.id)).map((command) => command.id);
  const existing = new Map<string, CommandRow>();
  if (missing.length > 0) {
    const { rows } = await sql.query<CommandRow>(SELECT_COMMANDS, [clientId, missing]);
    for (const row of rows) existing.set(row.id, row);
  }

  const claimed = new Set<string>();
  return commands.map((command, i) => {
    const fresh = byId.get(command.id);
    // The first occurrence of an id in this request is the one that was inserted; later ones are duplicates.
    if (fresh && !claimed.has(command.id)) {
      claimed.add(command.id);
      if (fresh.fingerprint === prints[i]) return { outcome: 'accepted', status: toCommandStatus(fresh) };
    }
    const stored = fresh ?? existing.get(command.id);
    if (!stored) throw new Error(`command ${command.id} neither inserted nor found`);
    return {
      outcome: stored.fingerprint === prints[i] ? 'duplicate' : 'reused',
      status: toCommandStatus(stored),
    };
  });
}

/** Submits commands in a transaction of their own. */
export async function submitCommands(
  pool: pg.Pool,
  enqueue: Enqueue,
  clientId: string,
  commands: readonly NewCommand[],
): Promise<Submission[]> {
  return withTransaction(pool, (client) => submitInTransaction(sqlOf(client), enqueue, clientId, commands));
}
