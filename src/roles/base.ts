// What every role stands on: the two connections (docs/operations.md, "Behind a pooler"), the queue, the
// metrics, tracing and readiness. startSystem starts it, then the roles on top of it, then stops it last.
import type pg from 'pg';
import { directUrlOf, poolerOf, type Config } from '../config.ts';
import { commandsOf, requireDomains, type Domain } from '../core/domain.ts';
import { createRegistry, type Registry } from '../core/registry.ts';
import { expectedMigrations, isSchemaCurrent, runMigrations } from '../db/migrate.ts';
import { createPool, refuseUnconfiguredPooler, sqlOf } from '../db/pool.ts';
import type { SettledListener } from '../db/settled-listener.ts';
import type { Logger } from '../log.ts';
import { readQueueSnapshot } from '../metrics/queue-snapshot.ts';
import { createMetrics, type Metrics } from '../metrics/registry.ts';
import { createCommandService, type CommandService } from '../processor/commands.ts';
import type { NewCommand, Submission } from '../processor/submit.ts';
import { checkTables } from '../processor/tables.ts';
import { startQueue, type CommandQueue } from '../queue/boss.ts';
import { queueSettings } from '../queue/options.ts';
import { startTracing, type SpanExporter, type Tracing } from '../tracing/index.ts';

/** A started part: a role, or a resource of the base. */
export interface Stoppable {
  stop(): Promise<unknown> | void;
}

export interface BaseOptions {
  config: Config & { DATABASE_URL: string };
  log: Logger;
  domains: readonly Domain[];
  /** The command types applied and accepted; default: every domain's commands. */
  registry?: Registry | undefined;
  /** Apply the migrations first (default true). */
  migrate?: boolean | undefined;
  /** Whether a worker runs here: it sizes the queue's pool and supervises expired jobs. */
  worker: boolean;
  /** Replace the exporters OTEL_TRACES_EXPORTER names (a test seam). */
  spanExporters?: SpanExporter[] | undefined;
}

export interface Base {
  config: Config & { DATABASE_URL: string };
  log: Logger;
  domains: readonly Domain[];
  registry: Registry;
  schema: string;
  /** DATABASE_URL (maybe a transaction pooler): transactions, reads, the sweeps. */
  pool: pg.Pool;
  /** DATABASE_DIRECT_URL (default DATABASE_URL): what needs a session (pg-boss, LISTEN, migrations). */
  direct: string;
  queue: CommandQueue;
  metrics: Metrics;
  /** Undefined unless OTEL_* turn tracing on: then no SDK is loaded and nothing traces. */
  tracing: Tracing | undefined;
  /** Whether the database answers and its schema is current (/health/ready). */
  ready: () => Promise<boolean>;
  /** A command service; submissions through the pipelined submission pool when `pipelined` (the api's and the inbox's). */
  commandService(options: {
    pipelined: boolean;
    listener: SettledListener | undefined;
    onSubmitted?: (commands: readonly NewCommand[], answers: readonly Submission[]) => void;
  }): CommandService;
  /** Logs a database error of `source` (a pool, the queue, a listener) without its stack. */
  onError(source: string): (err: Error) => void;
  /** Its resources in the order they stop: after every role. */
  parts: Stoppable[];
}

/**
 * Connects (refusing a pooler given alone), migrates unless told not to, starts the queue and checks the
 * domains' tables against the database.
 *
 * @example
 * const base = await startBase({ config, log, domains, worker: true });
 */
export async function startBase(options: BaseOptions): Promise<Base> {
  const { config, log } = options;
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
  const { worker } = options;
  const queue = await startQueue(
    queueSettings(config, {
      connectionString: direct,
      supervise: worker,
      poolSize: worker ? config.WORKER_CONCURRENCY + 5 : 5,
      applicationName: worker ? 'oncely-worker' : 'oncely-api',
      onError: onError('queue'),
    }),
  );

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
  const tracing = await startTracing(config, { log, ...(options.spanExporters ? { exporters: options.spanExporters } : {}) });

  // Submission flushes only: pipelined, so a flush's BEGIN goes out with its command insert and its COMMIT
  // with its job insert. Opened by the first role that submits (the api, the inbox); a worker never does.
  let submitPool: pg.Pool | undefined;
  const commandService: Base['commandService'] = ({ pipelined, listener, onSubmitted }) => {
    if (pipelined) {
      submitPool ??= createPool({ connectionString: url, max: 10, applicationName: 'oncely-submit', onError: onError('submit pool'), pipeline: true, pooler });
    }
    const service = createCommandService({
      pool,
      schema,
      submitPool: pipelined ? submitPool : undefined,
      enqueue: queue.enqueue,
      listener,
      ...(onSubmitted ? { onSubmitted } : {}),
    });
    return tracing ? tracing.submissions(service) : service;
  };

  return {
    config,
    log,
    domains,
    registry,
    schema,
    pool,
    direct,
    queue,
    metrics,
    tracing,
    ready,
    commandService,
    onError,
    parts: [queue, { stop: () => submitPool?.end() }, { stop: () => pool.end() }, { stop: () => tracing?.shutdown() }],
  };
}

/**
 * Stops every part in order, even when one before it fails (a pool left open would keep the process
 * alive), then reports the failures together in one line.
 *
 * @example
 * await stopAll([inbox, relay, ...base.parts]);
 */
export async function stopAll(parts: readonly (Stoppable | undefined)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const part of parts) {
    try {
      await part?.stop();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(failures, `stopping failed: ${failures.map((err) => (err as Error)?.message ?? String(err)).join('; ')}`);
  }
}
