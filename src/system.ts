import type pg from 'pg';
import type { Hono } from 'hono';
import { directUrlOf, poolerOf, relayUrl, type Config } from './config.ts';
import { drizzle } from 'drizzle-orm/node-postgres';
import { commandsOf, requireDomains, type Domain } from './core/domain.ts';
import { createRegistry, type Registry } from './core/registry.ts';
import { createPool, refuseUnconfiguredPooler, sqlOf } from './db/pool.ts';
import { expectedMigrations, isSchemaCurrent, runMigrations } from './db/migrate.ts';
import { outboxSql } from './db/outbox-sql.ts';
import { createSettledListener, type SettledListener } from './db/settled-listener.ts';
import { createApp } from './http/app.ts';
import type { Logger } from './log.ts';
import { markDead, type ApplyHooks, type ApplyTracer } from './processor/apply.ts';
import { applyBatch } from './processor/batch.ts';
import { createCommandService, type CommandService } from './processor/commands.ts';
import { isRetryable } from './processor/errors.ts';
import type { Enqueue } from './processor/ports.ts';
import { createStatsReader, readDuplicateCounts } from './processor/stats.ts';
import { readQueueSnapshot } from './metrics/queue-snapshot.ts';
import { createMetrics, type Metrics } from './metrics/registry.ts';
import { startQueue, type CommandQueue } from './queue/boss.ts';
import { withoutLiveJobIn } from './queue/live-jobs.ts';
import { reconcileGraceSeconds, startReconciler, type Reconciler } from './processor/reconcile.ts';
import { startRetentionSweeper, type RetentionSweeper } from './processor/retention.ts';
import { checkTables } from './processor/tables.ts';
import { startTracing, type SpanExporter } from './tracing/index.ts';
import type { Inbox, InboxHooks } from './inbox/index.ts';
import { inboxConfigured } from './inbox/settings.ts';
import { inboxSubmissions } from './inbox/metrics.ts';
import { createRelayMetrics } from './outbox/metrics.ts';
import { startRelay, type Relay, type RelayHooks } from './outbox/relay.ts';

export type { InboxHooks };
export { inboxConfigured } from './inbox/settings.ts';
export { startingResponse } from './http/starting.ts';

export interface Roles {
  api: boolean;
  worker: boolean;
  /** The broker consumers configured by INBOX_*_URL (none configured: nothing runs). */
  inbox?: boolean;
  /** The outbox relay, when RELAY_BROKER is set (docs/outbox.md). */
  relay?: boolean;
}

export interface System {
  app: Hono<{ Variables: { clientId: string } }> | undefined;
  commands: CommandService;
  pool: pg.Pool;
  /** This system's metrics (src/metrics/registry.ts); `metrics.render()` is the /metrics exposition. */
  metrics: Metrics;
  /** Queues jobs inside a caller's transaction: what the library's `submit(tx, commands)` stores through. */
  enqueue: Enqueue;
  /** The schema oncely's tables live in (ONCELY_SCHEMA). */
  schema: string;
  /** Whether the database answers and its schema is current (/health/ready). */
  ready(): Promise<boolean>;
  /** Answers every open `Prefer: wait` at once with its command's current status (the first step of stopping). */
  endWaits(): void;
  stop(): Promise<void>;
}

export interface SystemOptions {
  config: Config & { DATABASE_URL: string };
  roles: Roles;
  log: Logger;
  /**
   * The domains served: their command types, entity routes and OpenAPI. Required: the engine serves no
   * domain of its own (the entry points of `npm start` pass the reference domains).
   */
  domains: readonly Domain[];
  /** The command types applied and accepted, when they differ from the domains' (tests add failing ones); default: every domain's commands. */
  registry?: Registry;
  hooks?: ApplyHooks;
  /** Replace the exporters OTEL_TRACES_EXPORTER names (tests: an InMemorySpanExporter); tracing must still be on by config. */
  spanExporters?: SpanExporter[];
  /** Ended commands a worker's retention sweep purged (COMMAND_RETENTION): feeds oncely_purged_commands_total. */
  onPurged?: (count: number) => void;
  /** Commands a worker's reconcile sweep queued again because their job had vanished: feeds oncely_reconciled_total. */
  onReconciled?: (count: number) => void;
  migrate?: boolean;
  /** Test hooks into the inbox (a kill between commit and ack); production passes none. */
  inboxHooks?: InboxHooks;
  /** The relay's hooks (tests: stop between publish and mark). */
  relayHooks?: RelayHooks;
}

/**
 * Applies oncely's migrations into ONCELY_SCHEMA, then those of the domains served (`npm run migrate` passes
 * the reference domains, as `npm start` serves them).
 *
 * @example
 * await migrateSystem(url, config, referenceDomains);
 */
export async function migrateSystem(
  url: string,
  config: Pick<Config, 'ONCELY_SCHEMA'> & Partial<Pick<Config, 'DATABASE_DIRECT_URL'>>,
  domains: readonly Domain[],
): Promise<void> {
  // The migration lock is a session lock: straight to PostgreSQL, never through a transaction pooler.
  await runMigrations(directUrlOf(config, url), { schema: config.ONCELY_SCHEMA, domains });
}

/**
 * The composition root: the only module that knows every folder. Starts what the roles ask for.
 *
 * @example
 * const system = await startSystem({ config, roles: { api: true, worker: true }, log, domains: referenceDomains });
 * serve({ fetch: system.app!.fetch, port: config.PORT });
 */
export async function startSystem(options: SystemOptions): Promise<System> {
  const { config, roles, log } = options;
  // Two connections (docs/operations.md, "Behind a pooler"): `url` (DATABASE_URL, maybe a transaction pooler) for
  // transactions; `direct` (DATABASE_DIRECT_URL) for what needs a session: migrations, pg-boss, the LISTEN.
  const url = config.DATABASE_URL;
  const direct = directUrlOf(config, url);
  const pooler = poolerOf(config, url);
  const domains = requireDomains(options.domains, 'startSystem');
  const registry = options.registry ?? createRegistry(commandsOf(domains));
  const schema = config.ONCELY_SCHEMA;
  // A pooler given as DATABASE_URL alone would take the migration lock and the LISTENs: refused with advice.
  if (direct === url) await refuseUnconfiguredPooler(url);
  if (options.migrate ?? true) await runMigrations(direct, { schema, domains });

  const onError = (source: string) => (err: Error) => log.warn({ err: { message: err.message, code: (err as { code?: string }).code }, source }, 'database error');
  const pool = createPool({ connectionString: url, max: 20, applicationName: 'oncely', onError: onError('pool'), pooler });
  // pg-boss holds a LISTEN connection (worker wake-ups) and sets session bounds: it takes the direct URL.
  const queue: CommandQueue = await startQueue({
    connectionString: direct,
    maxAttempts: config.RETRY_LIMIT,
    expireSeconds: config.JOB_EXPIRE_SECONDS,
    superviseIntervalSeconds: config.SUPERVISE_INTERVAL_SECONDS,
    supervise: roles.worker,
    poolSize: roles.worker ? config.WORKER_CONCURRENCY + 5 : 5,
    applicationName: roles.worker ? 'oncely-worker' : 'oncely-api',
    onError: onError('queue'),
    schema,
  });

  const metrics = createMetrics({ commandTypes: registry.types, queueSnapshot: () => readQueueSnapshot(pool, schema) });
  const expected = await expectedMigrations(domains);
  const ready = () => isSchemaCurrent(pool, schema, expected);
  // A domain's drizzle table that disagrees with the database fails the start, not a batch later (an
  // unmigrated database is refused by its caller, with the advice to migrate).
  if (await ready().catch(() => false)) {
    await checkTables(sqlOf(pool), domains).catch(async (err: unknown) => {
      await queue.stop();
      await pool.end();
      throw err;
    });
  }

  const listener: SettledListener | undefined = roles.api ? createSettledListener({ connectionString: direct, onError: onError('listener') }) : undefined;
  // Undefined unless OTEL_* turn tracing on: then no SDK is loaded and no step below traces anything.
  const tracing = await startTracing(config, { log, ...(options.spanExporters ? { exporters: options.spanExporters } : {}) });
  // Submission flushes only: pipelined, so a flush's BEGIN goes out with its command insert and its COMMIT with its job insert.
  // The broker clients load only in a process that runs them: they add seconds to every start otherwise.
  const inboxModule = roles.inbox && inboxConfigured(config) ? await import('./inbox/index.ts') : undefined;
  const inboxSources = inboxModule ? await inboxModule.createInboxSources(config, { log }) : [];
  const submitPool =
    roles.api || inboxSources.length > 0
      ? createPool({ connectionString: url, max: 10, applicationName: 'oncely-submit', onError: onError('submit pool'), pipeline: true, pooler })
      : undefined;
  const service = createCommandService({
    pool,
    schema,
    submitPool,
    enqueue: queue.enqueue,
    listener,
    onSubmitted: (commands, answers) => metrics.submissions(commands, answers),
  });
  const commands = tracing ? tracing.submissions(service) : service;

  if (roles.worker) {
    await queue.work({
      concurrency: config.WORKER_CONCURRENCY,
      batchSize: config.WORKER_BATCH_SIZE,
      pollIntervalSeconds: config.POLL_INTERVAL_SECONDS,
      apply: (sql, deliveries) => {
        const run = (tracer?: ApplyTracer) =>
          metrics.timeBatch(deliveries.length, () =>
            applyBatch(sql, registry, deliveries, {
              schema,
              maxFailures: config.RETRY_LIMIT,
              retryDelayMaxSeconds: config.RETRY_DELAY_MAX_SECONDS,
              // Well inside the job's expiry, so a batch of slow handlers defers its tail instead of expiring whole.
              batchBudgetMs: (config.JOB_EXPIRE_SECONDS * 1000) / 3,
              // Imperative handlers only: they lock in their own order, so a blocked one gives way.
              lockTimeoutMs: Math.min(2000, (config.JOB_EXPIRE_SECONDS * 1000) / 4),
              ...(options.hooks ? { hooks: options.hooks } : {}),
              ...(tracer ? { tracer } : {}),
            }),
          );
        return tracing ? tracing.batch(deliveries, run) : run();
      },
      onDead: (sql, job, deadLetteredAt) => markDead(sql, schema, job.clientId, job.id, deadLetteredAt),
      onSettled: (delivery, settlement) => {
        metrics.settled(settlement);
        log.debug({ command: delivery.id, attempt: delivery.attempt, settlement }, 'command settled');
      },
    });
  }

  // Queued or retrying commands whose job vanished are queued again (one worker sweeps at a time).
  const reconciler: Reconciler | undefined =
    roles.worker && config.RECONCILE_INTERVAL_SECONDS > 0
      ? startReconciler({
          pool,
          schema,
          intervalSeconds: config.RECONCILE_INTERVAL_SECONDS,
          graceSeconds: reconcileGraceSeconds(config.JOB_EXPIRE_SECONDS),
          withoutLiveJob: withoutLiveJobIn(schema),
          enqueue: queue.enqueue,
          log,
          onReconciled: (count: number) => {
            metrics.reconciled(count);
            options.onReconciled?.(count);
          },
        })
      : undefined;

  const retention: RetentionSweeper | undefined =
    roles.worker && config.COMMAND_RETENTION !== undefined
      ? startRetentionSweeper({
          pool,
          schema,
          retentionMs: config.COMMAND_RETENTION,
          intervalMs: config.RETENTION_INTERVAL_SECONDS * 1000,
          onPurged: (count) => {
            log.info({ count }, 'purged ended commands past COMMAND_RETENTION');
            metrics.purged(count);
            options.onPurged?.(count);
          },
          onError: (err) => log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'retention sweep failed'),
        })
      : undefined;

  // ---- Outbox relay: publishes stored events to RELAY_BROKER (docs/outbox.md) ----
  let relay: Relay | undefined;
  const brokerUrl = relayUrl(config);
  if (roles.relay && config.RELAY_BROKER && brokerUrl) {
    const { createPublisher } = await import('./outbox/publishers.ts');
    relay = startRelay({
      pool,
      schema,
      publisher: await createPublisher({
        broker: config.RELAY_BROKER,
        url: brokerUrl,
        exchange: config.RELAY_EXCHANGE,
        ...(config.RELAY_QUEUE ? { queue: config.RELAY_QUEUE } : {}),
        subjectPrefix: config.RELAY_SUBJECT_PREFIX,
        natsStream: config.RELAY_NATS_STREAM,
        stream: config.RELAY_STREAM,
      }),
      batchSize: config.RELAY_BATCH_SIZE,
      pollIntervalMs: config.RELAY_POLL_INTERVAL_MS,
      typeMap: config.RELAY_TYPE_MAP,
      retentionMs: config.OUTBOX_RETENTION,
      log,
      metrics: createRelayMetrics(metrics.registry, () => outboxSql(schema).oldestUnsentAge(pool)),
      ...(options.relayHooks ? { hooks: options.relayHooks } : {}),
    });
    log.info({ broker: config.RELAY_BROKER }, 'outbox relay started');
  }
  // ---- end of outbox relay ----

  let app: System['app'];
  const waitsEnd = new AbortController();
  if (roles.api) {
    const stats = createStatsReader(pool, { schema });
    app = createApp({
      registry,
      commands,
      metrics,
      ...(tracing ? { traceRequests: tracing.requests } : {}),
      apiKeys: config.API_KEYS,
      stopping: waitsEnd.signal,
      domains,
      // Reads use the query builder only, so the drizzle database needs no schema: any domain's table works.
      readContext: { db: drizzle(pool), sql: sqlOf(pool) },
      ready,
      stats: async (clientId) => ({ ...(await stats.read(clientId)), duplicates: { scope: 'process', ...(await readDuplicateCounts(metrics.registry)) } }),
      // A database outage is expected operations (answered 503), not a bug: warn without the stack.
      onError: (err) =>
        isRetryable(err)
          ? log.warn({ err: { message: (err as Error).message, code: (err as { code?: string }).code } }, 'request failed: database unavailable')
          : log.error({ err }, 'request failed'),
    });
  }

  // Broker inboxes: a service of their own (same group-committed submission) so their duplicates count at stage `inbox`.
  let inbox: Inbox | undefined;
  if (inboxModule && inboxSources.length > 0) {
    const inboxService = createCommandService({ pool, schema, submitPool, enqueue: queue.enqueue, listener: undefined, onSubmitted: inboxSubmissions(metrics) });
    const target = tracing ? tracing.submissions(inboxService) : inboxService;
    const submit: CommandService['submit'] = (clientId, commands) => target.submit(clientId, commands);
    inbox = inboxModule.startInbox({ sources: inboxSources, registry, submit, metrics, log, hooks: options.inboxHooks });
  }

  let stopping: Promise<void> | undefined;
  return {
    app,
    commands,
    pool,
    metrics,
    enqueue: queue.enqueue,
    schema,
    ready,
    endWaits: () => waitsEnd.abort(),
    stop() {
      waitsEnd.abort();
      stopping ??= (async () => {
        // Every part is stopped even when one before it fails (a pool left open would keep the process alive);
        // the failures are reported together, once all have run.
        const failures: unknown[] = [];
        const steps: (() => Promise<unknown> | undefined)[] = [
          () => inbox?.stop(),
          () => relay?.stop(),
          () => retention?.stop(),
          () => reconciler?.stop(),
          () => queue.stop(),
          () => listener?.stop(),
          () => submitPool?.end(),
          () => pool.end(),
          () => tracing?.shutdown(),
        ];
        for (const step of steps) await (async () => step())().catch((err: unknown) => failures.push(err));
        if (failures.length > 0) {
          throw new AggregateError(failures, `stopping failed: ${failures.map((err) => (err as Error)?.message ?? String(err)).join('; ')}`);
        }
      })();
      return stopping;
    },
  };
}
