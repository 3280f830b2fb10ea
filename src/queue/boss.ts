// The only module that knows pg-boss. It turns the processor's needs (enqueue inside a transaction, run
// each delivery in one transaction, hear about jobs the queue gave up on) into pg-boss calls.
import { PgBoss, type Db as IDatabase, type JobInsert, type JobWithMetadata } from 'pg-boss';
// pg-boss's own statement texts: the submission writes its jobs with pg-boss's insert, not a copy of it.
import { insertJobs, notifyChannelSql } from 'pg-boss/dist/plans.js';
import type { Sql } from '../core/command.ts';
import type { Delivery, Settlement } from '../processor/apply.ts';
import type { Enqueue, InlineEnqueue, JobRef } from '../processor/ports.ts';
import { DEFAULT_SCHEMA } from '../core/schema-name.ts';
import { SESSION_OPTIONS, keepClientErrorsHandled, statementName } from '../db/pool.ts';
import { TRANSIENT_ATTEMPTS_FACTOR, TRANSIENT_RETRY_MAX_SECONDS } from '../processor/apply.ts';
import { createWakeups } from './wakeups.ts';

export const COMMAND_QUEUE = 'oncely-commands';

/** pg-boss's schema (its default, named so that the inline job insert below can name its tables). */
const BOSS_SCHEMA = 'pgboss';

/**
 * The most commands one job carries. Commands stored together (one submission flush, one batch request)
 * share jobs, so the queue's own cost (insert, fetch, complete: a few row writes per job) is paid once per
 * up to this many commands instead of once per command. Small enough that a worker batch (WORKER_BATCH_SIZE
 * jobs) of a large submission holds a slice of its entities, not all of them: a batch request's consecutive
 * jobs are entity-disjoint (chunksByEntity), so the loops draining it take disjoint slices side by side
 * instead of queueing on each other's row locks (50 a job made every batch of a 1,000-command request lock
 * every one of its entities: docs/performance.md, "Fourth round").
 */
export const COMMANDS_PER_JOB = 12;

/** A job's data: one command (the shape every job had before, and still the shape of a lone command's job), or several. */
export type JobData = JobRef | { commands: JobRef[] };

/** The commands a job carries. */
export function commandsOf(data: JobData): JobRef[] {
  return 'commands' in data ? data.commands : [data];
}

function jobData(refs: readonly JobRef[]): JobData {
  const plain = refs.map((ref) => ({ clientId: ref.clientId, id: ref.id }));
  return plain.length === 1 ? plain[0]! : { commands: plain };
}
export const DEAD_LETTER_QUEUE = 'oncely-commands-dead';

/**
 * The queues of the oncely whose tables are in `schema`: `oncely-commands` (and its dead letters) for the
 * default schema, as in 0.1, so jobs queued before an upgrade still run; `<schema>-commands` for another,
 * so two oncelys in one database never take each other's jobs.
 *
 * @example
 * queueNames('shop_engine'); // { commands: 'shop_engine-commands', dead: 'shop_engine-commands-dead' }
 */
export function queueNames(schema: string = DEFAULT_SCHEMA): { commands: string; dead: string } {
  const commands = schema === DEFAULT_SCHEMA ? COMMAND_QUEUE : `${schema}-commands`;
  return { commands, dead: `${commands}-dead` };
}

export interface QueueSettings {
  connectionString: string;
  /** Attempts before a command is dead (RETRY_LIMIT): 1 first try plus retries. */
  maxAttempts: number;
  expireSeconds: number;
  superviseIntervalSeconds: number;
  /** Whether this process sweeps expired jobs (workers do; the API need not). */
  supervise: boolean;
  poolSize: number;
  applicationName: string;
  onError: (err: Error) => void;
  /** The schema of the oncely whose jobs these are (ONCELY_SCHEMA): it names the queues (queueNames). */
  schema?: string;
}

export interface WorkSettings {
  /** Batches in flight at once in this process. */
  concurrency: number;
  /** Jobs fetched and committed together in one transaction. */
  batchSize: number;
  pollIntervalSeconds: number;
  apply: (sql: Sql, deliveries: readonly Delivery[]) => Promise<Settlement[]>;
  onDead: (sql: Sql, job: JobRef, deadLetteredAt: Date) => Promise<void>;
  onSettled?: (delivery: Delivery, settlement: Settlement) => void;
}

export interface CommandQueue {
  enqueue: Enqueue;
  work(settings: WorkSettings): Promise<void>;
  /** Stops fetching, lets handlers in flight finish, closes the pool. */
  stop(): Promise<void>;
}

/** What pg-boss's listen() returns. */
type ListenHandle = Awaited<ReturnType<NonNullable<IDatabase['listen']>>>;

function toDatabase(sql: Sql): IDatabase {
  return { executeSql: (text: string, values?: unknown[]) => sql.query(text, values) };
}

/**
 * The handler's view of its transaction. Once pg-boss abandons the handler (its job expired: the signal is
 * aborted) it queues a ROLLBACK on the same connection, but a statement the still-running handler sends
 * before that ROLLBACK completes would run after it, outside any transaction: an effect committed without
 * its outcome (seen in the chaos run after SIGSTOP/SIGCONT). So an abandoned handler may send nothing more.
 */
function toSql(db: IDatabase, signal?: AbortSignal): Sql {
  return {
    async query(text, values) {
      if (signal?.aborted) throw new Error('the job was abandoned (expired or shutting down): its transaction is being rolled back');
      // A named statement: parsed and analysed once per connection (pg-boss hands the config to pg as it is).
      const name = values === undefined ? undefined : statementName(text);
      const statement = name === undefined ? text : ({ name, text } as unknown as string);
      const result = (await db.executeSql(statement, values as unknown[] | undefined)) as { rows: never[]; rowCount?: number | null };
      return { rows: result.rows, rowCount: result.rowCount ?? null };
    },
  };
}

/**
 * Starts pg-boss (installing or migrating its schema) and makes sure the command queue and its
 * dead-letter queue exist with the configured retry policy.
 *
 * @example
 * const queue = await startQueue({ connectionString, maxAttempts: 5, expireSeconds: 15, ... });
 * await queue.work({ concurrency: 8, apply, onDead });
 */
export async function startQueue(settings: QueueSettings): Promise<CommandQueue> {
  // Passed through to pg-boss's own pg.Pool (see keepClientErrorsHandled).
  const poolHooks = { onConnect: keepClientErrorsHandled };
  const boss = new PgBoss({
    ...poolHooks,
    connectionString: settings.connectionString,
    schema: BOSS_SCHEMA,
    max: settings.poolSize,
    application_name: settings.applicationName,
    // The bound pg-boss would otherwise set on every transactional batch (a set_config reading pg_settings:
    // 0.6 ms of PostgreSQL CPU and a round trip per batch, the most expensive statement of scenario 1 in
    // docs/performance.md), set once per session: a handler's transaction left idle longer than its job's
    // expiry plus pg-boss's 5 s rollback margin is ended by the server (a later -c wins over SESSION_OPTIONS').
    options: `${SESSION_OPTIONS} -c idle_in_transaction_session_timeout=${(settings.expireSeconds + 5) * 1000}`,
    // pg-boss's own listener wakes every loop of a queue on each job; a worker listens itself instead and
    // wakes one (see work() and wakeups.ts). Other processes only enqueue: they need no listener.
    useListenNotify: false,
    supervise: settings.supervise,
    superviseIntervalSeconds: settings.superviseIntervalSeconds,
    // Expired jobs (a crashed worker's) are only swept on a monitor pass: keep the two together, so a
    // command whose worker died runs again within expireSeconds + superviseIntervalSeconds.
    monitorIntervalSeconds: settings.superviseIntervalSeconds,
    schedule: false,
    migrate: true,
    persistWarnings: false,
  });
  boss.on('error', settings.onError);
  await boss.start({ attempts: 5 });

  const policy = {
    // pg-boss retries only what the processor could not settle itself: a batch whose connection was lost
    // (PostgreSQL restarted) or whose worker died (its jobs expire). Those say nothing about the command,
    // so they back off exponentially but briefly (1-2 s, then at most TRANSIENT_RETRY_MAX_SECONDS): a
    // neighbour's fault never parks a command for tens of seconds. The processor schedules its own
    // retries (see the settlement below), with the long backoff only for a handler that keeps failing.
    // The budget bounds them all; a command whose own handler failed maxAttempts times ends dead first.
    retryLimit: settings.maxAttempts * TRANSIENT_ATTEMPTS_FACTOR - 1,
    retryDelay: 1,
    retryBackoff: true,
    retryDelayMax: TRANSIENT_RETRY_MAX_SECONDS,
    expireInSeconds: settings.expireSeconds,
    // A queued command is never deleted before it runs; completed jobs go after a day (the command row stays).
    retentionSeconds: 60 * 60 * 24 * 365,
    deleteAfterSeconds: 60 * 60 * 24,
  };
  const queues = queueNames(settings.schema);
  await ensureQueue(boss, queues.dead, { ...policy, retryLimit: 10, notify: true });
  await ensureQueue(boss, queues.commands, { ...policy, deadLetter: queues.dead, notify: true });

  const commandQueue = await boss.getQueue(queues.commands);
  if (!commandQueue) throw new Error(`the queue ${queues.commands} vanished after it was created`);
  const enqueue: Enqueue = Object.assign(
    async (sql: Sql, refs: readonly JobRef[]) => {
      if (refs.length === 0) return;
      const jobs: JobInsert<JobData>[] = [];
      for (const chunk of chunksByEntity(refs, COMMANDS_PER_JOB)) jobs.push({ data: jobData(chunk) });
      await boss.insert(queues.commands, jobs, { db: toDatabase(sql) });
    },
    { inline: inlineEnqueue(queues.commands, commandQueue.table) },
  );

  let stopWakeups = () => {};
  let listening: Promise<ListenHandle | undefined> = Promise.resolve(undefined);
  return {
    enqueue,
    async work({ concurrency, batchSize, pollIntervalSeconds, apply, onDead, onSettled }) {
      // One pg-boss loop per batch in flight, each woken on its own (wakeups.ts) rather than all by one NOTIFY.
      const loops: string[] = [];
      const wakeups = createWakeups({ loops: concurrency, notify: (loop) => boss.notifyWorker(loops[loop]!) });
      stopWakeups = () => wakeups.stop();
      const options = {
        transactional: true,
        // Bounded by the session's idle_in_transaction_session_timeout (above) and statement_timeout instead.
        transactionTimeoutSeconds: 0,
        includeMetadata: true,
        localConcurrency: 1,
        batchSize,
        // A full batch means more is waiting: fetch again at once instead of waiting for a poll.
        burstWhenBatchFull: true,
        // pg-boss ignores burstWhenBatchFull for batches of one; a backlog in the (cached) queue stats does it then.
        burstWhenReadyExceeds: 1,
        // Retries coming due are not announced by NOTIFY, so the backstop poll decides how soon they run.
        pollingIntervalSeconds: pollIntervalSeconds,
        notifyPollingIntervalSeconds: pollIntervalSeconds,
      } as const;
      const handler = (loop: number) => (jobs: JobWithMetadata<JobData>[], tx: IDatabase) => wakeups.batch(loop, jobs.length >= batchSize, () => applyJobs(jobs, tx));
      const applyJobs = async (jobs: JobWithMetadata<JobData>[], tx: IDatabase) => {
        const deliveries: Delivery[] = jobs.flatMap((job) =>
          commandsOf(job.data).map((ref) => ({
            clientId: ref.clientId,
            id: ref.id,
            entityId: ref.entityId ?? '',
            attempt: job.retryCount + 1,
            lastAttempt: job.retryCount >= job.retryLimit,
          })),
        );
        const abandoned = AbortSignal.any(jobs.map((job) => job.signal));
        const settlements = await apply(toSql(tx, abandoned), deliveries);
        // pg-boss completes every job of the batch in this transaction after we return. A command to run
        // again gets a job of its own, due after the processor's delay, and a dead one a copy in the
        // dead-letter queue for operators; both are inserted here, in the same commit as the command row
        // that says so.
        const again: JobInsert<JobData>[] = [];
        const dead: JobInsert<JobData>[] = [];
        for (const [i, settlement] of settlements.entries()) {
          const delivery = deliveries[i]!;
          const data = jobData([{ clientId: delivery.clientId, id: delivery.id }]);
          if (settlement.kind === 'retry') again.push({ data, startAfter: settlement.delaySeconds });
          else if (settlement.kind === 'dead') dead.push({ data, retryLimit: 0 });
        }
        // pg-boss must see its own `tx` to count these settles, so the abandoned-handler guard is applied by hand.
        abandoned.throwIfAborted();
        if (again.length > 0) await boss.insert(queues.commands, again, { db: tx });
        if (dead.length > 0) await boss.insert(queues.dead, dead, { db: tx });
        if (onSettled) for (const [i, delivery] of deliveries.entries()) onSettled(delivery, settlements[i]!);
        return null;
      };
      for (let loop = 0; loop < concurrency; loop++) loops.push(await boss.work<JobData, unknown, typeof options>(queues.commands, options, handler(loop)));
      const deadOptions = {
        transactional: true,
        transactionTimeoutSeconds: 0,
        includeMetadata: true,
        localConcurrency: 1,
        batchSize: 50,
        pollingIntervalSeconds: pollIntervalSeconds,
        notifyPollingIntervalSeconds: pollIntervalSeconds,
      } as const;
      const deadLoop = await boss.work<JobData, unknown, typeof deadOptions>(queues.dead, deadOptions, async (jobs, tx) => {
        // A job the queue gave up on (its retries used up without the processor settling it) names every
        // command it carried; each ends dead unless an attempt ended it already.
        for (const job of jobs) for (const ref of commandsOf(job.data)) await onDead(toSql(tx), ref, job.createdOn);
        return null;
      });
      listening = listen(
        boss,
        (payload) => {
          if (payload === queues.commands) wakeups.announced();
          else if (payload === queues.dead) boss.notifyWorker(deadLoop);
        },
        () => {
          // Reconnected: whatever was announced meanwhile is unheard of, so every loop looks once.
          wakeups.all();
          boss.notifyWorker(deadLoop);
        },
      ).catch((err: unknown) => {
        // Like pg-boss's own listener: without LISTEN (a pooler in front, say) the loops still poll.
        settings.onError(new Error('the worker could not LISTEN for new jobs: it polls every POLL_INTERVAL_SECONDS instead', { cause: err }));
        return undefined;
      });
      await listening;
    },
    async stop() {
      stopWakeups();
      await (await listening)?.close();
      await boss.stop({ graceful: true, timeout: 20_000, close: true });
    },
  };
}

/**
 * The job insert `boss.insert(name, jobs)` sends, as CTEs over the rows of another CTE: pg-boss's own
 * `insertJobs` text (the queue's defaults joined from its `queue` row, its partition, `ON CONFLICT DO
 * NOTHING`), reading its job list from `source` instead of a parameter, then the one NOTIFY pg-boss sends
 * for a notify queue when a job is runnable at once (every new command's job is). pg-boss rewrites this
 * parameter the same way for its own flows (`insertFlowJobs`); should a pg-boss upgrade change the text, the
 * start fails here rather than a submission later.
 */
function inlineEnqueue(name: string, table: string): InlineEnqueue {
  const insert = insertJobs(BOSS_SCHEMA, { table, name, returnId: true, notify: false });
  const parameter = '$1::text::json';
  if (insert.split('$').length !== 2 || !insert.includes(parameter))
    throw new Error(`pg-boss's job insert no longer reads its jobs from ${parameter}: oncely needs updating`);
  return {
    chunks: (refs) => chunksByEntity(refs, COMMANDS_PER_JOB).map((chunk) => chunk.map((ref) => ({ clientId: ref.clientId, id: ref.id }))),
    ctes: (source) => `
      boss_jobs AS (
        ${insert.replace(
          parameter,
          // jobData's shape: a lone command's job carries the ref itself, a larger one { commands: [...] }.
          () =>
            `(SELECT coalesce(json_agg(json_build_object('data', CASE WHEN jsonb_array_length(refs) = 1 THEN refs -> 0 ELSE jsonb_build_object('commands', refs) END)), '[]'::json) FROM ${source})`,
        )}
      ),
      boss_notified AS (SELECT pg_notify(${notifyChannelSql(BOSS_SCHEMA)}, '${name}') FROM boss_jobs LIMIT 1)`,
    announced: '(SELECT count(*) FROM boss_notified) >= 0',
  };
}

/**
 * LISTENs on pg-boss's channel (one connection of its own, reconnecting with backoff; `onReconnect` after a
 * reconnection): each payload names the queue a job was announced on.
 */
async function listen(boss: PgBoss, onJob: (queue: string) => void, onReconnect: () => void): Promise<ListenHandle> {
  const db = boss.getDb();
  if (!db.listen) throw new Error("pg-boss's database has no LISTEN");
  const { rows } = await db.executeSql(`SELECT ${notifyChannelSql(BOSS_SCHEMA)} AS channel`);
  const channel: unknown = (rows as { channel?: unknown }[])[0]?.channel;
  if (typeof channel !== 'string') throw new Error("pg-boss's notification channel could not be read");
  return db.listen(channel, onJob, onReconnect);
}

async function ensureQueue(boss: PgBoss, name: string, options: Parameters<PgBoss['createQueue']>[1] & object): Promise<void> {
  if (await boss.getQueue(name)) {
    const { deadLetter, ...rest } = options;
    await boss.updateQueue(name, { ...rest, ...(deadLetter ? { deadLetter } : {}) });
    return;
  }
  try {
    await boss.createQueue(name, options);
  } catch (err) {
    // Another process created it at the same moment.
    if (!(await boss.getQueue(name))) throw err;
  }
}

/**
 * Splits refs into jobs of about `size` commands without ever splitting one entity's commands across two
 * jobs (separate jobs may run at once on different workers): each entity's commands stay together, in the
 * order given, so commands submitted together on one entity apply in that order. An entity with more than
 * `size` commands gets a job of its own.
 */
export function chunksByEntity<R extends { entityId?: string | undefined }>(refs: readonly R[], size: number): R[][] {
  const byEntity = new Map<string, R[]>();
  for (const ref of refs) {
    // A ref without an entity (replays of old jobs) forms its own group.
    const key = ref.entityId ?? `\u0000${byEntity.size}`;
    const group = byEntity.get(key);
    if (group) group.push(ref);
    else byEntity.set(key, [ref]);
  }
  const chunks: R[][] = [];
  let current: R[] = [];
  for (const group of byEntity.values()) {
    if (current.length > 0 && current.length + group.length > size) {
      chunks.push(current);
      current = [];
    }
    current.push(...group);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
