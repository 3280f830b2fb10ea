// The composition root: the only module that knows every role (src/roles/), and the order they start in.
import type pg from 'pg';
import type { Hono } from 'hono';
import { directUrlOf, type Config } from './config.ts';
import type { Domain } from './core/domain.ts';
import type { Registry } from './core/registry.ts';
import { runMigrations } from './db/migrate.ts';
import { refuseUnconfiguredPooler } from './db/pool.ts';
import type { InboxHooks } from './inbox/index.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics/registry.ts';
import type { ApplyHooks } from './processor/apply.ts';
import type { CommandService } from './processor/commands.ts';
import type { Enqueue } from './processor/ports.ts';
import type { RelayHooks } from './outbox/relay.ts';
import { startApiRole, type Api } from './roles/api.ts';
import { startBase, stopAll, type Stoppable } from './roles/base.ts';
import { startInboxRole } from './roles/inbox.ts';
import { startReconcilerRole } from './roles/reconciler.ts';
import { startRelayRole } from './roles/relay.ts';
import { startRetentionRole } from './roles/retention.ts';
import { startWorkerRole } from './roles/worker.ts';
import type { SpanExporter } from './tracing/index.ts';

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
  migrate?: boolean;
}

/**
 * Where the tests and the harnesses reach into the roles (test/helpers/system.ts, chaos's fault hooks): the
 * second argument of startSystem, which no production entry point passes.
 */
export interface Seams {
  /** Into each command's transaction (a kill or a stall at a named point). */
  apply?: ApplyHooks;
  /** Into the inbox (a kill between commit and ack). */
  inbox?: InboxHooks;
  /** Into the relay (a stop between publish and mark). */
  relay?: RelayHooks;
  /** Replace the exporters OTEL_TRACES_EXPORTER names (an InMemorySpanExporter); tracing must still be on by config. */
  spanExporters?: SpanExporter[];
  /** Told how many ended commands a worker's retention sweep purged. */
  onPurged?: (count: number) => void;
  /** Told how many commands a worker's reconcile sweep queued again. */
  onReconciled?: (count: number) => void;
}

/**
 * Applies oncely's migrations into ONCELY_SCHEMA, then those of the domains served (`npm run migrate` passes
 * the reference domains, as `npm start` serves them), over the direct connection.
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
  const direct = directUrlOf(config, url);
  if (direct === url) await refuseUnconfiguredPooler(url);
  await runMigrations(direct, { schema: config.ONCELY_SCHEMA, domains });
}

/**
 * The composition root: the only module that knows every role. Starts the base (connections, queue,
 * metrics), then the roles asked for in this order, and stops them in the reverse order, the base last.
 *
 * @example
 * const system = await startSystem({ config, roles: { api: true, worker: true }, log, domains: referenceDomains });
 * serve({ fetch: system.app!.fetch, port: config.PORT });
 */
export async function startSystem(options: SystemOptions, seams: Seams = {}): Promise<System> {
  const { roles } = options;
  const base = await startBase({ ...options, worker: roles.worker, spanExporters: seams.spanExporters });
  const started: (Stoppable | undefined)[] = [];
  const stopStarted = () => stopAll([...started].reverse().concat(base.parts));
  let api: Api | undefined;
  try {
    if (roles.worker) {
      started.push(await startWorkerRole(base, seams.apply));
      started.push(startReconcilerRole(base, seams.onReconciled));
      started.push(startRetentionRole(base, seams.onPurged));
    }
    if (roles.relay) started.push(await startRelayRole(base, seams.relay));
    if (roles.api) started.push((api = startApiRole(base)));
    if (roles.inbox) started.push(await startInboxRole(base, seams.inbox));
  } catch (err) {
    await stopStarted().catch(() => {});
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    app: api?.app,
    commands:
      api?.commands ?? base.commandService({ pipelined: false, listener: undefined, onSubmitted: (commands, answers) => base.metrics.submissions(commands, answers) }),
    pool: base.pool,
    metrics: base.metrics,
    enqueue: base.queue.enqueue,
    schema: base.schema,
    ready: () => base.ready(),
    endWaits: () => api?.endWaits(),
    stop() {
      api?.endWaits();
      stopping ??= stopStarted();
      return stopping;
    },
  };
}
