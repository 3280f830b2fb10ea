// Every statement over oncely's `commands` table, and nothing else names it: the processor's guarantees
// (the dedupe insert, the row locks, the guarded outcome writes), the reads of HTTP and the CLI, stats and
// gauges, retention and the reconciler. One builder per schema (src/db/engine-schema.ts): the table's name
// is `"<schema>"."commands"`, and since prepared statements are named after their text, two schemas in one
// process never share one. Statuses come from src/core/envelope.ts through src/db/statuses.ts.
import type { Sql } from '../core/command.ts';
import { perSchema, qualified } from './engine-schema.ts';
import { arrayLiteral, jsonArrayLiteral, jsonOrNull } from './json.ts';
import type { CommandRow } from './schema.ts';
import { commands } from './schema.ts';
import { SETTLED_CHANNEL } from './settled-listener.ts';
import { ENDED_STATUSES, IN_FLIGHT_STATUSES, statusIn } from './statuses.ts';
import { getTableColumns } from 'drizzle-orm';

export type { CommandRow };

/** Every column of a command row, as the processor reads it (from the drizzle table: never listed by hand). */
export const COMMAND_COLUMNS = Object.values(getTableColumns(commands))
  .map((column) => column.name)
  .join(', ');

/** The timestamp columns of a command row. */
const TIMESTAMP_COLUMNS = Object.values(getTableColumns(commands))
  .filter((column) => column.columnType === 'PgTimestamp')
  .map((column) => column.name);

/**
 * Every column of a command row as the worker's batch lock reads it: the timestamps as epoch seconds
 * (float8), which lockMany makes Dates again. Parsing a timestamp's text costs a batch of 1,000 rows
 * thousands of regular-expression matches; a float is read natively.
 */
const LOCKED_COLUMNS = Object.values(getTableColumns(commands))
  .map((column) => (TIMESTAMP_COLUMNS.includes(column.name) ? `date_part('epoch', ${column.name}) AS ${column.name}` : column.name))
  .join(', ');

const IN_FLIGHT = statusIn(IN_FLIGHT_STATUSES);
/** About how many bytes of settled keys one notification carries (src/db/settled-listener.ts splits them). */
const NOTIFICATION_BYTES = 4000;
const ENDED = statusIn(ENDED_STATUSES);

/** A command as submission stores it (the insert's input, as JSON). */
export interface CommandRecord {
  client_id: string;
  id: string;
  type: string;
  entity_id: string;
  expected_version: number | null;
  payload: unknown;
  fingerprint: string;
  trace_parent: string | null;
}

/**
 * A queue's job insert as SQL to put into the command insert (the processor's `JobsInStatement`, declared
 * here because db never imports the processor).
 */
export interface JobsInStatement {
  chunks(refs: readonly { clientId: string; id: string; entityId: string }[]): { clientId: string; id: string }[][];
  ctes(source: string): string;
  announced: string;
}

/** The keyset position after which a dead-letter page starts: (completed_at, client_id, id). */
export type DeadLetterAfter = readonly [completedAt: Date | string, clientId: string, id: string];

// The first two steps of a submission, shared by insertOrRead and the queuing statement: the input records,
// and those of them that were new, inserted in key order.
const inputAndInserted = (commandsTable: string) => `
      WITH input AS MATERIALIZED (
        SELECT * FROM jsonb_to_recordset($1::jsonb)
          AS c(client_id text, id text, type text, entity_id text, expected_version integer, payload jsonb, fingerprint text, trace_parent text)
      ), inserted AS (
        INSERT INTO ${commandsTable} (client_id, id, type, entity_id, expected_version, payload, fingerprint, status, trace_parent)
        SELECT client_id, id, type, entity_id, expected_version, payload, fingerprint, 'queued', trace_parent FROM input
        ORDER BY client_id, id
        ON CONFLICT (client_id, id) DO NOTHING
        RETURNING ${COMMAND_COLUMNS}
      )`;

const statements = perSchema((schema) => {
  const commandsTable = qualified(schema, 'commands');
  return {
    // Dedupe at submission, for many clients at once, in one round trip. The primary key (client_id, id) admits
    // one row per idempotency key; rows go in key order so two concurrent flushes lock keys in the same order
    // and cannot deadlock. The second half reads the rows that already existed when the statement began (a
    // data-modifying CTE's rows are invisible to its siblings, so the halves never overlap). A concurrent
    // duplicate still being committed by another transaction is in neither half: it is read afterwards.
    insertOrRead: `${inputAndInserted(commandsTable)}
      SELECT true AS inserted, ${COMMAND_COLUMNS} FROM inserted
      UNION ALL
      -- One primary-key probe per input row (LIMIT 1 keeps the planner from flattening it). A plain join lets the planner, which guesses 100 input rows, hash
      -- them and scan the whole commands table on every submission: 6 ms at 11,000 rows, growing with history.
      SELECT false AS inserted, existing.* FROM input
      CROSS JOIN LATERAL (SELECT ${COMMAND_COLUMNS} FROM ${commandsTable} AS c WHERE c.client_id = input.client_id AND c.id = input.id LIMIT 1) AS existing`,

    selectOfClients: `
      SELECT ${COMMAND_COLUMNS} FROM ${commandsTable}
      WHERE (client_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,

    select: `SELECT ${COMMAND_COLUMNS} FROM ${commandsTable} WHERE client_id = $1 AND id = ANY($2::text[])`,

    // Dedupe at the worker: the row lock serialises every delivery of one command, and a terminal status
    // under that lock means an earlier delivery already committed its effect, so this one must do nothing.
    lock: `SELECT ${COMMAND_COLUMNS} FROM ${commandsTable} WHERE client_id = $1 AND id = $2 FOR UPDATE`,

    // Dedupe at the worker, for a whole batch: one statement locks every command row, in (client_id, id) order
    // (the first locks of the global lock order, see src/processor/batch.ts). A terminal status under the lock
    // means an earlier delivery already committed its effect.
    lockMany: `
      SELECT ${LOCKED_COLUMNS} FROM ${commandsTable}
      WHERE (client_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
      ORDER BY client_id, id
      FOR UPDATE`,

    // Every outcome of a batch in one statement, in the transaction of the effects, announced on commit.
    // Like recordOutcome it never overwrites an ended command; the caller checks that all were recorded.
    // One primary-key probe per outcome: the guard names the ended statuses, so that the partial index of
    // the in-flight commands (which grows with the backlog) is not what the planner reads the rows through.
    // The keys are announced many to a notification, one per line, in notifications of about 4,000 bytes
    // (PostgreSQL takes at most 8,000; a key is a client name and an id of at most 128 characters), not one
    // notification per command: fewer for the server to queue and for the api's listener to read.
    recordOutcomes: `
      WITH settled AS (
        UPDATE ${commandsTable} AS c
        SET status = u.status, attempts = u.attempts, result = u.result, error = u.error, updated_at = now(),
            completed_at = now()
        FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::jsonb[], $6::jsonb[])
          AS u(client_id, id, status, attempts, result, error)
        WHERE c.client_id = u.client_id AND c.id = u.id AND c.status NOT IN (${ENDED})
        RETURNING c.client_id, c.id
      ), numbered AS (
        SELECT key, sum(octet_length(key) + 1) OVER (ROWS UNBOUNDED PRECEDING) / ${NOTIFICATION_BYTES} AS n
        FROM (SELECT client_id || ' ' || id AS key FROM settled) AS keys
      )
      SELECT (SELECT count(*) FROM settled) AS settled,
             (SELECT count(pg_notify('${SETTLED_CHANNEL}', keys)) FROM (
                SELECT string_agg(key, E'\n') AS keys FROM numbered GROUP BY n
              ) AS notifications) AS announced`,

    // Records the outcome in the same transaction as the effect, and announces it on commit.
    recordOutcome: `
      WITH settled AS (
        UPDATE ${commandsTable}
        SET status = $3, attempts = greatest(attempts + 1, $4), result = $5, error = $6, updated_at = now(),
            completed_at = CASE WHEN $3 IN (${ENDED}) THEN now() END
        -- Never overwrites an ended command: a late failure report cannot undo a committed outcome.
        WHERE client_id = $1 AND id = $2 AND status IN (${IN_FLIGHT})
        RETURNING client_id, id, status
      )
      SELECT pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id) FROM settled
      WHERE status IN (${ENDED})`,

    // A failed attempt: `retrying`, or `dead` once the queue gives up ($4), the handler itself (not the
    // database) has failed $5 times, or the command has used up its whole budget of attempts ($8, transient
    // failures included: every retry loop is bounded). Like every outcome, it never touches an ended command.
    recordFailure: `
      WITH settled AS (
        UPDATE ${commandsTable}
        SET failures = failures + $3::int,
            status = CASE WHEN $4::boolean OR failures + $3::int >= $5::int OR attempts + 1 >= $8::int THEN 'dead' ELSE 'retrying' END,
            attempts = greatest(attempts + 1, $6), error = $7, updated_at = now(),
            completed_at = CASE WHEN $4::boolean OR failures + $3::int >= $5::int OR attempts + 1 >= $8::int THEN now() END
        WHERE client_id = $1 AND id = $2 AND status IN (${IN_FLIGHT})
        RETURNING client_id, id, status, failures, attempts
      ), announced AS (
        SELECT pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id) FROM settled WHERE status = 'dead'
      )
      SELECT status, failures, attempts, (SELECT count(*) FROM announced) AS announced FROM settled`,

    // A job that reached the dead-letter queue without the processor recording it (its last attempt lost its
    // connection): the command ends dead unless some attempt already ended it, or it changed after the job was
    // dead-lettered ($3) -- a replay in between must not be undone by the old dead letter.
    markDead: `
      WITH settled AS (
        UPDATE ${commandsTable}
        SET status = 'dead', updated_at = now(), completed_at = now(),
            error = coalesce(error, '{"code":"retries_exhausted","message":"the command failed on every attempt"}'::jsonb)
        WHERE client_id = $1 AND id = $2 AND status IN (${IN_FLIGHT}) AND updated_at <= $3
        RETURNING client_id, id
      )
      SELECT pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id) FROM settled`,

    // Replay: only a dead command goes back to the queue, and only once per replay request.
    requeueDead: `
      UPDATE ${commandsTable} SET status = 'queued', error = NULL, result = NULL, completed_at = NULL, updated_at = now(),
        failures = 0
      WHERE client_id = $1 AND id = $2 AND status = 'dead'
      RETURNING ${COMMAND_COLUMNS}`,

    // One client's dead letters oldest first, keyset-paginated after ($2, $3) so a page never skips or repeats
    // a row while others die or are replayed; served by the partial index commands_dead_letters_idx. Only those
    // dead by $4 (a run that replays them never meets one that died again during the run).
    deadLettersOfClient: `
      SELECT ${COMMAND_COLUMNS} FROM ${commandsTable}
      WHERE client_id = $1 AND status = 'dead' AND completed_at <= coalesce($4::timestamptz, 'infinity')
        AND (completed_at, id) > (coalesce($2::timestamptz, '-infinity'), coalesce($3::text, ''))
      ORDER BY completed_at, id
      LIMIT $5`,

    // Every client's dead letters, the operator's view: the same keyset, with the client in it.
    deadLettersOfAll: `
      SELECT ${COMMAND_COLUMNS} FROM ${commandsTable}
      WHERE status = 'dead' AND completed_at <= coalesce($4::timestamptz, 'infinity')
        AND (completed_at, client_id, id) > (coalesce($1::timestamptz, '-infinity'), coalesce($2::text, ''), coalesce($3::text, ''))
      ORDER BY completed_at, client_id, id
      LIMIT $5`,

    // The caller's newest dead commands (only its own: ids are per client), by the same partial index, backwards.
    newestDeadLetters: `
      SELECT ${COMMAND_COLUMNS} FROM ${commandsTable}
      WHERE client_id = $1 AND status = 'dead'
      ORDER BY completed_at DESC, id DESC
      LIMIT $2`,

    // Dead commands, every client's or one's: an index-only count over commands_dead_letters_idx.
    countDead: `SELECT now() AS at, count(*)::bigint AS n FROM ${commandsTable} WHERE status = 'dead' AND ($1::text IS NULL OR client_id = $1)`,

    // One pass over commands: the rows still in flight and the rows submitted or ended within the window. The
    // figures are then taken from that small set. ($1 window, $2 bucket width, $3 latency window, $4 rate window.)
    recentFigures: `
      WITH clock AS MATERIALIZED (SELECT now() AS at),
      recent AS MATERIALIZED (
        SELECT c.status, c.submitted_at, c.completed_at
        FROM ${commandsTable} c, clock
        WHERE c.status IN (${IN_FLIGHT})
           OR c.completed_at > clock.at - make_interval(secs => $1)
           OR c.submitted_at > clock.at - make_interval(secs => $1)
      )
      SELECT
        clock.at,
        (SELECT count(*) FROM recent WHERE status = 'queued') AS queued,
        (SELECT count(*) FROM recent WHERE status = 'retrying') AS retrying,
        (SELECT extract(epoch FROM clock.at - min(submitted_at))::float8 FROM recent WHERE status IN (${IN_FLIGHT})) AS oldest_queued_seconds,
        (SELECT count(*) FROM recent WHERE completed_at > clock.at - make_interval(secs => $3)) AS latency_count,
        (SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - submitted_at))::float8[]
           FROM recent WHERE completed_at > clock.at - make_interval(secs => $3)) AS latency,
        (SELECT count(*) FROM recent WHERE submitted_at > clock.at - make_interval(secs => $4)) AS rate_submitted,
        (SELECT count(*) FROM recent WHERE completed_at > clock.at - make_interval(secs => $4)) AS rate_completed,
        (SELECT coalesce(json_agg(json_build_object('slot', slot, 'status', status, 'n', n)), '[]'::json) FROM (
           SELECT floor(extract(epoch FROM completed_at) / $2)::bigint AS slot, status, count(*) AS n
           FROM recent WHERE completed_at > clock.at - make_interval(secs => $1) GROUP BY 1, 2
           UNION ALL
           SELECT floor(extract(epoch FROM submitted_at) / $2)::bigint, 'submitted', count(*)
           FROM recent WHERE submitted_at > clock.at - make_interval(secs => $1) GROUP BY 1
         ) grouped) AS buckets
      FROM clock`,

    // The queue gauges. Each figure reads one partial index (commands_in_flight_idx, commands_dead_letters_idx),
    // so a scrape costs the backlog and the dead letters, not the whole history.
    queueSnapshot: `
      SELECT (SELECT count(*) FROM ${commandsTable} WHERE status IN (${IN_FLIGHT}))::int AS depth,
             coalesce(extract(epoch FROM clock_timestamp() - (SELECT min(submitted_at) FROM ${commandsTable} WHERE status IN (${IN_FLIGHT}))), 0)::float8 AS oldest_seconds,
             (SELECT count(*) FROM ${commandsTable} WHERE status = 'dead')::int AS dead`,

    // `oncely stats`: counts by type and status, every client's or one's.
    countByTypeAndStatus: `
      SELECT type, status, count(*)::bigint AS n FROM ${commandsTable}
      WHERE ($1::text IS NULL OR client_id = $1)
      GROUP BY type, status ORDER BY type, status`,

    // The backlog: commands not yet ended, and how long the oldest of them has waited since it was submitted.
    backlog: `
      SELECT count(*)::bigint AS depth, extract(epoch FROM now() - min(submitted_at))::float8 AS oldest
      FROM ${commandsTable} WHERE status IN (${IN_FLIGHT}) AND ($1::text IS NULL OR client_id = $1)`,

    countPurgeable: `
      SELECT count(*)::bigint AS n FROM ${commandsTable}
      WHERE status IN (${ENDED}) AND completed_at < $1`,

    // Only ended commands go, never a queued or retrying one, and never a business row (no other table is
    // named here). A row a replay or a worker holds is skipped, not waited for; a dead command replayed
    // after this statement's snapshot is re-checked under its lock and kept. The DELETE repeats the status
    // test so that the statement that removes rows says on its own which rows it may remove.
    purgeEnded: `
      WITH doomed AS (
        SELECT client_id, id FROM ${commandsTable}
        WHERE status IN (${ENDED}) AND completed_at < $1
        LIMIT $2
        FOR UPDATE SKIP LOCKED
      )
      DELETE FROM ${commandsTable} AS c USING doomed AS d
      WHERE c.client_id = d.client_id AND c.id = d.id
        AND c.status IN (${ENDED}) AND c.completed_at < $1`,

    // The reconciler's candidates, oldest first, keyset-paged so a sweep walks past a backlog whose jobs are all
    // alive instead of looking at the same oldest rows every time. No lock here: most candidates have a live
    // job, and locking them would stall the workers applying them for the length of the job check.
    reconcileCandidates: `
      SELECT client_id, id, entity_id, updated_at FROM ${commandsTable}
      WHERE status IN (${IN_FLIGHT}) AND updated_at < now() - make_interval(secs => $1)
        AND (updated_at, client_id, id) > (coalesce($2::timestamptz, '-infinity'), coalesce($3::text, ''), coalesce($4::text, ''))
      ORDER BY updated_at, client_id, id
      LIMIT $5`,

    // The suspects, locked in the global lock order (command rows by client_id, id) and re-read under the lock:
    // a command that ended or moved on since the candidate read is no longer unfinished-and-old, and one a
    // worker holds right now is skipped (it has a job: that is why a worker holds it).
    lockReconcileSuspects: `
      SELECT client_id, id, entity_id, updated_at FROM ${commandsTable}
      WHERE (client_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        AND status IN (${IN_FLIGHT}) AND updated_at < now() - make_interval(secs => $3)
      ORDER BY client_id, id
      FOR UPDATE SKIP LOCKED`,
  };
});

// insertOrRead and the jobs of the rows it inserted, in one statement (docs/processor.md, "One statement
// per flush"): $2 holds the jobs as enqueue would split them, every command assumed new; each job keeps the
// refs of the rows this statement inserted, in order, and a job left with none is not written. A command
// that already existed keeps the job it has, and never gets a second one from here.
const queuingStatement = (schema: string, jobCtes: string, announced: string) => {
  const commandsTable = qualified(schema, 'commands');
  return `${inputAndInserted(commandsTable)}, new_jobs AS (
        SELECT jsonb_agg(r.ref ORDER BY r.position) AS refs
        FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS job(refs, n)
        CROSS JOIN LATERAL jsonb_array_elements(job.refs) WITH ORDINALITY AS r(ref, position)
        JOIN inserted ON inserted.client_id = r.ref ->> 'clientId' AND inserted.id = r.ref ->> 'id'
        GROUP BY job.n
      ), ${jobCtes}
      SELECT true AS inserted, ${COMMAND_COLUMNS} FROM inserted WHERE ${announced}
      UNION ALL
      SELECT false AS inserted, existing.* FROM input
      CROSS JOIN LATERAL (SELECT ${COMMAND_COLUMNS} FROM ${commandsTable} AS c WHERE c.client_id = input.client_id AND c.id = input.id LIMIT 1) AS existing`;
};

/** The statement texts over `"<schema>"."commands"` (tests read them; code calls the functions below). */
export const commandStatements = statements;

/** What a failed attempt left on the command row. */
export interface FailureRecord {
  status: string;
  failures: number;
  attempts: number;
}

/** A command the reconciler examines. */
export interface ReconcileRow {
  client_id: string;
  id: string;
  entity_id: string;
  updated_at: Date;
}

/** The figures row of `recentFigures` (src/processor/stats.ts shapes it). */
export interface FiguresRow {
  at: Date;
  queued: number;
  retrying: number;
  oldest_queued_seconds: number | null;
  latency_count: number;
  latency: number[] | null;
  rate_submitted: number;
  rate_completed: number;
  buckets: { slot: number; status: string; n: number }[];
}

/**
 * The operations over `"<schema>"."commands"`, each one statement. Every value is a parameter.
 *
 * @example
 * const row = await commandsSql('oncely').lock(sql, 'anonymous', 'credit-1');
 */
export const commandsSql = perSchema((schema) => {
  const text = statements(schema);
  const queuingStatements = new WeakMap<JobsInStatement, string>();
  return {
    /** Inserts new commands (`queued`), reading the ones that already existed: see `insertOrRead` above. */
    async insertOrRead(sql: Sql, records: readonly CommandRecord[]): Promise<(CommandRow & { inserted: boolean })[]> {
      return (await sql.query<CommandRow & { inserted: boolean }>(text.insertOrRead, [JSON.stringify(records)])).rows;
    },
    /**
     * `insertOrRead`, and in the same statement the jobs of the rows it inserted, written by the queue's own
     * insert (`inline`): a command row never commits without its job.
     */
    async insertOrReadQueuing(sql: Sql, records: readonly CommandRecord[], inline: JobsInStatement): Promise<(CommandRow & { inserted: boolean })[]> {
      let statement = queuingStatements.get(inline);
      if (statement === undefined) queuingStatements.set(inline, (statement = queuingStatement(schema, inline.ctes('new_jobs'), inline.announced)));
      const jobs = inline.chunks(records.map((r) => ({ clientId: r.client_id, id: r.id, entityId: r.entity_id })));
      return (await sql.query<CommandRow & { inserted: boolean }>(statement, [JSON.stringify(records), JSON.stringify(jobs)])).rows;
    },
    /** The commands with these (client, id) keys. */
    async selectOfClients(sql: Sql, clientIds: readonly string[], ids: readonly string[]): Promise<CommandRow[]> {
      return (await sql.query<CommandRow>(text.selectOfClients, [clientIds, ids])).rows;
    },
    /** One client's commands with these ids. */
    async select(sql: Sql, clientId: string, ids: readonly string[]): Promise<CommandRow[]> {
      return (await sql.query<CommandRow>(text.select, [clientId, ids])).rows;
    },
    /** Locks one command row (FOR UPDATE) and reads it. */
    async lock(sql: Sql, clientId: string, id: string): Promise<CommandRow | undefined> {
      return (await sql.query<CommandRow>(text.lock, [clientId, id])).rows[0];
    },
    /** Locks every command row of a batch in (client_id, id) order, and reads them. */
    async lockMany(sql: Sql, clientIds: readonly string[], ids: readonly string[]): Promise<CommandRow[]> {
      const { rows } = await sql.query<Record<string, unknown>>(text.lockMany, [arrayLiteral(clientIds), arrayLiteral(ids)]);
      for (const row of rows) {
        for (const column of TIMESTAMP_COLUMNS) {
          const seconds = row[column];
          // Timestamps have millisecond precision: epoch seconds as a float8 round to the exact millisecond.
          if (typeof seconds === 'number') row[column] = new Date(Math.round(seconds * 1000));
        }
      }
      return rows as CommandRow[];
    },
    /** Records a batch's outcomes; returns how many commands were still in flight (all of them, or a bug). */
    async recordOutcomes(
      sql: Sql,
      outcomes: readonly { clientId: string; id: string; status: string; attempts: number; result: unknown; error: unknown }[],
    ): Promise<number> {
      const { rows } = await sql.query<{ settled: string }>(text.recordOutcomes, [
        arrayLiteral(outcomes.map((o) => o.clientId)),
        arrayLiteral(outcomes.map((o) => o.id)),
        arrayLiteral(outcomes.map((o) => o.status)),
        arrayLiteral(outcomes.map((o) => o.attempts)),
        jsonArrayLiteral(outcomes.map((o) => jsonOrNull(o.result))),
        jsonArrayLiteral(outcomes.map((o) => jsonOrNull(o.error))),
      ]);
      return Number(rows[0]?.settled ?? 0);
    },
    /** Records one command's outcome (announced on commit when it ended it). */
    async recordOutcome(sql: Sql, clientId: string, id: string, status: string, attempt: number, result: unknown, error: unknown): Promise<void> {
      await sql.query(text.recordOutcome, [clientId, id, status, attempt, jsonOrNull(result), jsonOrNull(error)]);
    },
    /** Records a failed attempt (see `recordFailure` above); undefined when the command had already ended. */
    async recordFailure(
      sql: Sql,
      failure: { clientId: string; id: string; handlerFailed: boolean; lastAttempt: boolean; maxFailures: number; attempt: number; error: unknown; maxAttempts: number },
    ): Promise<FailureRecord | undefined> {
      const { rows } = await sql.query<FailureRecord>(text.recordFailure, [
        failure.clientId,
        failure.id,
        failure.handlerFailed ? 1 : 0,
        failure.lastAttempt,
        failure.maxFailures,
        failure.attempt,
        JSON.stringify(failure.error),
        failure.maxAttempts,
      ]);
      return rows[0];
    },
    /** Ends a command dead whose job was dead-lettered at `deadLetteredAt`, unless it ended or changed since. */
    async markDead(sql: Sql, clientId: string, id: string, deadLetteredAt: Date): Promise<void> {
      await sql.query(text.markDead, [clientId, id, deadLetteredAt]);
    },
    /** Puts a dead command back to `queued`; undefined when it is not dead (or does not exist). */
    async requeueDead(sql: Sql, clientId: string, id: string): Promise<CommandRow | undefined> {
      return (await sql.query<CommandRow>(text.requeueDead, [clientId, id])).rows[0];
    },
    /**
     * Dead commands oldest first, one client's (`clientId`) or every client's (null), after `after` and dead
     * by `diedBy` when given: the dead-letter pages of HTTP and of the CLI (its list and `replay --all-dead`).
     */
    async deadLetters(sql: Sql, page: { clientId: string | null; after?: DeadLetterAfter | undefined; diedBy?: Date | undefined; limit: number }): Promise<CommandRow[]> {
      const diedBy = page.diedBy ?? null;
      const { rows } =
        page.clientId === null
          ? await sql.query<CommandRow>(text.deadLettersOfAll, [page.after?.[0] ?? null, page.after?.[1] ?? null, page.after?.[2] ?? null, diedBy, page.limit])
          : await sql.query<CommandRow>(text.deadLettersOfClient, [page.clientId, page.after?.[0] ?? null, page.after?.[2] ?? null, diedBy, page.limit]);
      return rows;
    },
    /** One client's newest dead commands, newest first. */
    async newestDeadLetters(sql: Sql, clientId: string, limit: number): Promise<CommandRow[]> {
      return (await sql.query<CommandRow>(text.newestDeadLetters, [clientId, limit])).rows;
    },
    /** How many commands are dead (one client's, or every client's for null), and the database's clock. */
    async countDead(sql: Sql, clientId: string | null): Promise<{ at: Date; count: number }> {
      const { rows } = await sql.query<{ at: Date; n: string | number }>(text.countDead, [clientId]);
      return { at: rows[0]!.at, count: Number(rows[0]?.n ?? 0) };
    },
    /** The dashboard's recent figures (see `recentFigures` above). */
    async recentFigures(sql: Sql, windows: { window: number; bucket: number; latency: number; rate: number }): Promise<FiguresRow | undefined> {
      return (await sql.query<FiguresRow>(text.recentFigures, [windows.window, windows.bucket, windows.latency, windows.rate])).rows[0];
    },
    /** Queue depth, the oldest in-flight command's age in seconds, and the dead letters. */
    async queueSnapshot(sql: Sql): Promise<{ depth: number; oldestSeconds: number; dead: number }> {
      const row = (await sql.query<{ depth: number; oldest_seconds: number; dead: number }>(text.queueSnapshot)).rows[0];
      return { depth: row?.depth ?? 0, oldestSeconds: Math.max(0, row?.oldest_seconds ?? 0), dead: row?.dead ?? 0 };
    },
    /** Counts by type and status (one client's, or every client's for null). */
    async countByTypeAndStatus(sql: Sql, clientId: string | null): Promise<{ type: string; status: CommandRow['status']; count: number }[]> {
      const { rows } = await sql.query<{ type: string; status: CommandRow['status']; n: string | number }>(text.countByTypeAndStatus, [clientId]);
      return rows.map(({ type, status, n }) => ({ type, status, count: Number(n) }));
    },
    /** The backlog: in-flight commands and the oldest one's wait in seconds (null when none). */
    async backlog(sql: Sql, clientId: string | null): Promise<{ depth: number; oldestSeconds: number | null }> {
      const row = (await sql.query<{ depth: string | number; oldest: number | null }>(text.backlog, [clientId])).rows[0];
      return { depth: Number(row?.depth ?? 0), oldestSeconds: row?.oldest ?? null };
    },
    /** How many ended commands completed before `cutoff`. */
    async countPurgeable(sql: Sql, cutoff: Date): Promise<number> {
      return Number((await sql.query<{ n: string | number }>(text.countPurgeable, [cutoff])).rows[0]?.n ?? 0);
    },
    /** Deletes at most `limit` ended commands completed before `cutoff`; returns how many. */
    async purgeEnded(sql: Sql, cutoff: Date, limit: number): Promise<number> {
      return (await sql.query(text.purgeEnded, [cutoff, limit])).rowCount ?? 0;
    },
    /** The reconciler's next page of candidates (in flight, unchanged for `graceSeconds`), after `after`. */
    async reconcileCandidates(
      sql: Sql,
      graceSeconds: number,
      after: { updatedAt: Date; clientId: string; id: string } | undefined,
      limit: number,
    ): Promise<ReconcileRow[]> {
      return (await sql.query<ReconcileRow>(text.reconcileCandidates, [graceSeconds, after?.updatedAt ?? null, after?.clientId ?? null, after?.id ?? null, limit])).rows;
    },
    /** Locks the suspects still in flight and unchanged (skipping any a worker holds). */
    async lockReconcileSuspects(sql: Sql, clientIds: readonly string[], ids: readonly string[], graceSeconds: number): Promise<ReconcileRow[]> {
      return (await sql.query<ReconcileRow>(text.lockReconcileSuspects, [clientIds, ids, graceSeconds])).rows;
    },
  };
});

/** The operations over one schema's commands table. */
export type CommandsSql = ReturnType<typeof commandsSql>;
