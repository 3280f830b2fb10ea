import type pg from 'pg';
import type { Sql } from '../core/command.ts';
import type { CommandStatus } from '../core/envelope.ts';
import { fingerprint } from '../core/fingerprint.ts';
import { inTransaction, namesStatements, sqlOf, statementName, withTransaction } from '../db/pool.ts';
import { keyOf } from './command-key.ts';
import { isRetryable } from './errors.ts';
import { createGroupCommit } from './group-commit.ts';
import type { Enqueue } from './ports.ts';
import { commandsSql, type CommandRecord, type CommandRow } from '../db/commands-sql.ts';
import { toCommandStatus } from './status.ts';

/** A command ready to store: id settled, payload already valid for its type. */
export interface NewCommand {
  id: string;
  type: string;
  entityId: string;
  expectedVersion: number | undefined;
  payload: unknown;
  /** W3C traceparent of the submission span, stored so the worker's spans join the submitter's trace. */
  traceParent?: string | undefined;
}

export type Submission =
  | { outcome: 'accepted'; status: CommandStatus }
  /** `inFlush`: the command was stored by this same request or group-commit flush (metrics tell the two kinds apart). */
  | { outcome: 'duplicate'; status: CommandStatus; inFlush?: boolean }
  | { outcome: 'reused'; status: CommandStatus };

/** One submission request: a client's commands, answered together. */
export interface SubmissionRequest {
  clientId: string;
  commands: readonly NewCommand[];
}

/**
 * Stores the commands of several requests (several clients too) and queues their jobs in the caller's
 * transaction, with one statement for the commands and one for the jobs. Requests are answered as if they
 * had run one after another in the order given: the first occurrence of an id is the one stored, later ones
 * are duplicates (same fingerprint) or reused keys (another fingerprint).
 */
export function submitRequestsInTransaction(sql: Sql, schema: string, enqueue: Enqueue, requests: readonly SubmissionRequest[]): Promise<Submission[][]> {
  return storeRequests(sql, sql, schema, enqueue, requests);
}

/**
 * `submitRequestsInTransaction`, with the transaction's last write sent through `last` (a pipelined flush
 * queues its COMMIT right behind it): the command insert that also writes the jobs when the queue can
 * (`enqueue.inline`), else the job insert. A read after it (rows another flush was committing) goes on `sql`.
 */
async function storeRequests(sql: Sql, last: Sql, schema: string, enqueue: Enqueue, requests: readonly SubmissionRequest[]): Promise<Submission[][]> {
  const prints = requests.map((request) => request.commands.map((command) => fingerprint(command)));
  const records = new Map<string, CommandRecord>();
  for (const [r, { clientId, commands }] of requests.entries()) {
    for (const [i, command] of commands.entries()) {
      const key = keyOf(clientId, command.id);
      if (records.has(key)) continue;
      records.set(key, {
        client_id: clientId,
        id: command.id,
        type: command.type,
        entity_id: command.entityId,
        expected_version: command.expectedVersion ?? null,
        payload: command.payload,
        fingerprint: prints[r]![i]!,
        trace_parent: command.traceParent ?? null,
      });
    }
  }
  const inline = enqueue.inline;
  const rows = inline
    ? await commandsSql(schema).insertOrReadQueuing(last, [...records.values()], inline)
    : await commandsSql(schema).insertOrRead(sql, [...records.values()]);
  const inserted = rows.filter((row) => row.inserted);

  const fresh = new Map(inserted.map((row) => [keyOf(row.client_id, row.id), row]));
  const stored = new Map(rows.filter((row) => !row.inserted).map((row) => [keyOf(row.client_id, row.id), row as CommandRow]));
  const unseen = [...records.values()].filter((record) => {
    const key = keyOf(record.client_id, record.id);
    return !fresh.has(key) && !stored.has(key);
  });
  if (unseen.length > 0) {
    const late = await commandsSql(schema).selectOfClients(
      sql,
      unseen.map((r) => r.client_id),
      unseen.map((r) => r.id),
    );
    for (const row of late) stored.set(keyOf(row.client_id, row.id), row);
  }

  const claimed = new Set<string>();
  const answers = requests.map(({ clientId, commands }, r) =>
    commands.map((command, i): Submission => {
      const key = keyOf(clientId, command.id);
      const print = prints[r]![i];
      const mine = fresh.get(key);
      // The first occurrence of a key is the one that was inserted; later ones are duplicates.
      if (mine && !claimed.has(key)) {
        claimed.add(key);
        if (mine.fingerprint === print) return { outcome: 'accepted', status: toCommandStatus(mine) };
      }
      const row = mine ?? stored.get(key);
      if (!row) throw new Error(`command ${command.id} neither inserted nor found`);
      if (row.fingerprint !== print) return { outcome: 'reused', status: toCommandStatus(row) };
      return mine ? { outcome: 'duplicate', status: toCommandStatus(row), inFlush: true } : { outcome: 'duplicate', status: toCommandStatus(row) };
    }),
  );
  // The jobs go last: the transaction's last statement, so a pipelined flush can send its COMMIT with it.
  // In submission order (the insert returns them in key order): commands submitted together on one entity
  // share a job and are applied in the order they were given (`order.create` before `order.pay`).
  const position = new Map([...records.keys()].map((key, i) => [key, i]));
  const ordered = inserted.toSorted((a, b) => position.get(keyOf(a.client_id, a.id))! - position.get(keyOf(b.client_id, b.id))!);
  if (!inline && ordered.length > 0)
    await enqueue(
      last,
      ordered.map((row) => ({ clientId: row.client_id, id: row.id, entityId: row.entity_id })),
    );
  return answers;
}

/**
 * Stores commands and queues their jobs in the caller's transaction: a command never exists without its
 * job, nor a job without its command. Duplicates come back as the stored status, never as a second command.
 * Use it directly to submit commands atomically with your own writes.
 *
 * @example
 * await withTransaction(pool, async (client) => {
 *   await client.query('insert into my_outbox ...');
 *   return submitInTransaction(sqlOf(client), 'oncely', enqueue, 'anonymous', [{ id: 'c1', type: 'account.open', entityId: 'a1', expectedVersion: undefined, payload: {} }]);
 * });
 */
export async function submitInTransaction(sql: Sql, schema: string, enqueue: Enqueue, clientId: string, commands: readonly NewCommand[]): Promise<Submission[]> {
  const [submissions] = await submitRequestsInTransaction(sql, schema, enqueue, [{ clientId, commands }]);
  return submissions ?? [];
}

/**
 * Holds a connection's writes until `fn` has queued its statements, so that statements queued together
 * (BEGIN and the command insert; the job insert and COMMIT) leave in one write: on loopback TCP each
 * write is a system call that wakes the server, a good part of the api's CPU per command
 * (docs/performance.md). Only the transport changes: the statements go out in the order queued.
 */
function inOneWrite<T>(client: pg.PoolClient, fn: () => T): T {
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  stream?.cork?.();
  try {
    return fn();
  } finally {
    stream?.uncork?.();
  }
}

/**
 * Runs every statement as a named prepared statement on this connection (named after its text, so the same
 * text is parsed and planned once per connection), including the ones the queue adapter sends for the jobs;
 * unnamed on a transaction-pooled connection (DATABASE_POOLER), where a name would outlive its server session.
 * `afterEach` runs right after a statement is queued (a pipelined flush queues its COMMIT there).
 */
export function preparedSqlOf(client: pg.PoolClient, afterEach?: () => void): Sql {
  return {
    async query<R>(text: string, values?: readonly unknown[]) {
      const name = namesStatements(client) ? statementName(text) : undefined;
      const sent = client.query<R & pg.QueryResultRow>({ ...(name ? { name } : {}), text, values: values as unknown[] | undefined });
      afterEach?.();
      const result = await sent;
      return { rows: result.rows, rowCount: result.rowCount };
    },
  };
}

/**
 * One submission flush in one transaction, sent in as few round trips as the connection allows. On a
 * pipelined connection (pg's `pipeline` option) BEGIN goes out with the command insert, and COMMIT with the
 * job insert, the transaction's last statement: two waits instead of four. On a plain connection the same
 * calls simply wait for each other.
 *
 * Why this keeps the guarantees: statements on one connection run in the order queued. BEGIN cannot fail on
 * a connection the pool handed out clean, short of the session dying, which fails the insert behind it too.
 * COMMIT is queued only once the job insert is (the queue adapter sends exactly one statement; a second is
 * refused), and if that insert fails the transaction is aborted and its COMMIT rolls back. A request is
 * answered only once COMMIT has answered "COMMIT".
 */
async function runFlush(pool: pg.Pool, schema: string, enqueue: Enqueue, requests: readonly SubmissionRequest[]): Promise<Submission[][]> {
  return inTransaction(pool, async (client, broke) => {
    let begin: Promise<unknown> | undefined;
    let commit: Promise<pg.QueryResult> | undefined;
    /** The transaction's last statement (the command insert with the jobs, or the queue adapter's one insert) goes out with the COMMIT behind it. */
    const lastStatement: Sql = {
      query(text, values) {
        if (commit) return Promise.reject(new Error('pipelined submission: a second statement after the last one, whose COMMIT was queued'));
        return inOneWrite(client, () =>
          preparedSqlOf(client, () => {
            commit = client.query('COMMIT');
            commit.catch(() => {});
          }).query(text, values),
        );
      },
    };
    try {
      // Its first statement is queued right behind BEGIN, without waiting for it.
      const submitting = inOneWrite(client, () => {
        begin = client.query('BEGIN');
        begin.catch(() => {});
        return storeRequests(preparedSqlOf(client), lastStatement, schema, enqueue, requests);
      });
      const submissions = await submitting;
      await begin;
      const done = await (commit ?? client.query('COMMIT'));
      if (done.command !== 'COMMIT') throw new Error(`submission transaction ended in ${done.command}, not COMMIT`);
      return submissions;
    } catch (err) {
      // Every statement queued must have answered before the ROLLBACK: a failed COMMIT means the session is gone.
      await begin?.catch(() => {});
      const ended = commit
        ? await commit.then(
            () => undefined,
            (e: unknown) => e,
          )
        : undefined;
      if (ended instanceof Error) broke(ended);
      throw err;
    }
  });
}

/** Submits commands in a transaction of their own. */
export async function submitCommands(pool: pg.Pool, schema: string, enqueue: Enqueue, clientId: string, commands: readonly NewCommand[]): Promise<Submission[]> {
  return withTransaction(pool, (client) => submitInTransaction(sqlOf(client), schema, enqueue, clientId, commands));
}

export interface GroupSubmitter {
  submit(clientId: string, commands: readonly NewCommand[]): Promise<Submission[]>;
  /** Submission transactions started so far (one per flush, plus one per request re-run alone). */
  transactions(): number;
}

/** Commands one shared submission transaction takes at most; a larger request goes alone. */
export const MAX_FLUSH_COMMANDS = 500;

/**
 * Group-committed submission: concurrent submissions share one transaction (one statement for their
 * commands, one for their jobs, one commit, one NOTIFY), each still answered on its own. A lone submission
 * is flushed at once. If a shared transaction fails for a reason that is not the database's (a bug, a value
 * the database refuses), each of its requests is run again alone, so one bad request fails only itself; a
 * database outage fails every request of the flush with its error, as it would have failed each alone.
 *
 * @example
 * const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: queue.enqueue });
 * const [submission] = await submitter.submit('anonymous', [{ id: 'c1', type: 'account.open', entityId: 'a1', expectedVersion: undefined, payload: {} }]);
 */
export function createGroupSubmitter(deps: { pool: pg.Pool; schema: string; enqueue: Enqueue; maxFlushCommands?: number }): GroupSubmitter {
  let transactions = 0;
  const run = (requests: readonly SubmissionRequest[]) => {
    transactions++;
    return runFlush(deps.pool, deps.schema, deps.enqueue, requests);
  };
  const group = createGroupCommit<SubmissionRequest, Submission[]>({
    maxSize: deps.maxFlushCommands ?? MAX_FLUSH_COMMANDS,
    sizeOf: (request) => request.commands.length,
    async flush(requests) {
      try {
        return (await run(requests)).map((value) => ({ status: 'fulfilled', value }));
      } catch (err) {
        if (requests.length === 1 || isRetryable(err)) throw err;
        // One after another, in arrival order, so the first occurrence of a shared id is still the one stored.
        const results: PromiseSettledResult<Submission[]>[] = [];
        for (const request of requests) {
          try {
            results.push({ status: 'fulfilled', value: (await run([request]))[0] ?? [] });
          } catch (reason) {
            results.push({ status: 'rejected', reason });
          }
        }
        return results;
      }
    },
  });
  return {
    submit: (clientId, commands) => (commands.length === 0 ? Promise.resolve([]) : group.submit({ clientId, commands })),
    transactions: () => transactions,
  };
}
