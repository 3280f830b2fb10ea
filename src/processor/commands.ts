import type pg from 'pg';
import { isTerminal, type CommandStatus } from '../core/envelope.ts';
import { sqlOf, withTransaction } from '../db/pool.ts';
import type { SettledListener } from '../db/settled-listener.ts';
import { commandsSql, type CommandRow } from '../db/commands-sql.ts';
import { keyOf } from './command-key.ts';
import { createGroupCommit } from './group-commit.ts';
import { toCommandStatus } from './status.ts';
import type { Enqueue } from './ports.ts';
import { createGroupSubmitter, type NewCommand, type Submission } from './submit.ts';

export interface CommandService {
  /** Concurrent submissions share one transaction (group commit); each is answered on its own. */
  submit(clientId: string, commands: readonly NewCommand[]): Promise<Submission[]>;
  get(clientId: string, id: string): Promise<CommandStatus | null>;
  /** Reads the command, waiting up to `seconds` for it to become terminal. */
  waitFor(clientId: string, id: string, seconds: number, signal?: AbortSignal): Promise<CommandStatus | null>;
  /**
   * Starts listening for the command's settlement now, before the caller submits or reads it: a status the
   * caller obtains afterwards (its submission's answer) is then as good as a read, and `until` reads again
   * only once woken. Close it when done.
   */
  watch(clientId: string, id: string): Watch;
  /** Dead commands oldest first; null when the cursor is not one this service handed out. */
  deadLetters(clientId: string, page: { limit: number; cursor: string | undefined }): Promise<DeadLetterPage | null>;
  /** Puts a dead command back on the queue under the same id, in one transaction with its new job. */
  replay(clientId: string, id: string): Promise<Replay>;
}

export interface Watch {
  /** Waits up to `seconds` from `status` (obtained after watch() began) until the command is terminal; the latest status. */
  until(status: CommandStatus, seconds: number, signal?: AbortSignal): Promise<CommandStatus>;
  close(): void;
}

export interface DeadLetterPage {
  items: CommandStatus[];
  nextCursor: string | null;
}

export type Replay = { outcome: 'replayed'; status: CommandStatus } | { outcome: 'not_dead'; status: CommandStatus } | { outcome: 'not_found' };

/** A dead-letter cursor: the (completedAt, id) of the last item served, opaque to clients. */
function encodeCursor(row: CommandRow): string {
  return Buffer.from(JSON.stringify([new Date(row.completed_at ?? 0).toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [at, id] = value as unknown[];
    if (typeof at !== 'string' || typeof id !== 'string' || Number.isNaN(Date.parse(at)) || id.length > 128) return null;
    return [new Date(at).toISOString(), id];
  } catch {
    return null;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Submission and reads of commands, shared by every adapter (HTTP, the typed client, a user's own code).
 *
 * @example
 * const service = createCommandService({ pool, schema: 'oncely', enqueue: queue.enqueue, listener });
 * const [submission] = await service.submit('anonymous', [{ id: 'c1', type: 'account.open', entityId: 'a1', expectedVersion: undefined, payload: {} }]);
 */
export function createCommandService(deps: {
  pool: pg.Pool;
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  /** The pool submission flushes run on (a pipelined one saves round trips); `pool` if absent. */
  submitPool?: pg.Pool | undefined;
  enqueue: Enqueue;
  listener: SettledListener | undefined;
  /** Commands one shared submission transaction takes at most (default 500). */
  maxFlushCommands?: number;
  /** Told of every request's answers once stored (metrics: submissions by answer, duplicates absorbed). */
  onSubmitted?: (commands: readonly NewCommand[], submissions: readonly Submission[]) => void;
}): CommandService {
  const statements = commandsSql(deps.schema);
  const poolSql = sqlOf(deps.pool);
  const submitter = createGroupSubmitter({
    pool: deps.submitPool ?? deps.pool,
    schema: deps.schema,
    enqueue: deps.enqueue,
    ...(deps.maxFlushCommands === undefined ? {} : { maxFlushCommands: deps.maxFlushCommands }),
  });
  // Reads of single commands (GET, and every Prefer: wait: one read before waiting, one when woken) share
  // statements: a read asked for while another is in flight goes with the others in the next one. So the
  // waiters of a batch, woken by one notification, cost one statement rather than one each.
  const reader = createGroupCommit<{ clientId: string; id: string }, CommandRow | undefined>({
    maxSize: 500,
    sizeOf: () => 1,
    async flush(keys) {
      const rows = await statements.selectOfClients(
        poolSql,
        keys.map((key) => key.clientId),
        keys.map((key) => key.id),
      );
      const byKey = new Map(rows.map((row) => [keyOf(row.client_id, row.id), row]));
      return keys.map((key) => ({ status: 'fulfilled', value: byKey.get(keyOf(key.clientId, key.id)) }));
    },
  });
  const get = async (clientId: string, id: string) => {
    const row = await reader.submit({ clientId, id });
    return row ? toCommandStatus(row) : null;
  };
  const watch = (clientId: string, id: string): Watch => {
    // Woken by the process's one LISTEN connection (its notification, or its reconnect): no re-reads on a timer.
    // Subscribed before the status the caller holds was read, so a settlement after that read is never missed.
    const subscription = deps.listener?.subscribe(clientId, id);
    return {
      async until(status, seconds, signal) {
        const deadline = Date.now() + seconds * 1000;
        let latest = status;
        for (;;) {
          const remaining = deadline - Date.now();
          // Aborted: the client went away, or the process is stopping and answers with the status as it is now.
          if (isTerminal(latest.status) || remaining <= 0 || signal?.aborted) return latest;
          if (subscription) await subscription.next(remaining, signal);
          else await sleep(Math.min(remaining, 200), signal);
          latest = (await get(clientId, id)) ?? latest;
        }
      },
      close: () => subscription?.close(),
    };
  };
  return {
    async submit(clientId, commands) {
      const submissions = await submitter.submit(clientId, commands);
      deps.onSubmitted?.(commands, submissions);
      return submissions;
    },
    get,
    async waitFor(clientId, id, seconds, signal) {
      const watching = watch(clientId, id);
      try {
        const status = await get(clientId, id);
        return status && (await watching.until(status, seconds, signal));
      } finally {
        watching.close();
      }
    },
    watch,
    async deadLetters(clientId, { limit, cursor }) {
      const decoded = cursor === undefined ? undefined : decodeCursor(cursor);
      if (decoded === null) return null;
      const after = decoded && ([decoded[0], clientId, decoded[1]] as const);
      const rows = await statements.deadLetters(poolSql, { clientId, after, limit: limit + 1 });
      const last = rows.length > limit ? rows[limit - 1] : undefined;
      return { items: rows.slice(0, limit).map(toCommandStatus), nextCursor: last ? encodeCursor(last) : null };
    },
    replay(clientId, id) {
      return withTransaction(deps.pool, async (client): Promise<Replay> => {
        const sql = sqlOf(client);
        const requeued = await statements.requeueDead(sql, clientId, id);
        if (requeued) {
          await deps.enqueue(sql, [{ clientId, id, entityId: requeued.entity_id }]);
          return { outcome: 'replayed', status: toCommandStatus(requeued) };
        }
        const existing = await statements.select(sql, clientId, [id]);
        return existing[0] ? { outcome: 'not_dead', status: toCommandStatus(existing[0]) } : { outcome: 'not_found' };
      });
    },
  };
}
