// createOncely: oncely inside an application's own process. It wraps the composition root (startSystem)
// with the application's domains, configuration and logger, and adds what an application needs beyond
// the HTTP API: migrate as a step the application orders, and submit(tx, commands) inside the
// application's own transactions.
import type { Hono } from 'hono';
import { ConfigError, ConfigSchema, directUrlOf, parseConfig, type Config } from '../config.ts';
import { commandsOf, requireDomains, type CommandMapOfDomains, type Domain, type EntityMapOf } from '../core/domain.ts';
import { createRegistry, type Registry } from '../core/registry.ts';
import { schemaNameProblem } from '../core/schema-name.ts';
import { createClient, type Client, type ClientOptions, type CommandMap, type EntityMap } from '../client/index.ts';
import { createLogger, type Logger } from '../log.ts';
import type { Submission } from '../processor/submit.ts';
import { startQueue } from '../queue/boss.ts';
import { queueSettings } from '../queue/options.ts';
import { migrateSystem, startSystem, type System } from '../system.ts';
import { createHealthHandler } from './health.ts';
import { submitEnvelopes, type CommandEnvelope } from './submit.ts';
import { OncelyUsageError, type Transaction } from './transaction.ts';

/** The settings given as options of their own (databaseUrl, directDatabaseUrl, pooler), or meaningless in a library (DATA_DIR). */
const NOT_IN_CONFIG = { DATABASE_URL: 'databaseUrl', DATABASE_DIRECT_URL: 'directDatabaseUrl', DATABASE_POOLER: 'pooler', DATA_DIR: undefined } as const;

/** Every setting of the configuration table (docs/configuration.md) but the database's and DATA_DIR, as values. */
export type OncelyConfig = {
  [K in Exclude<keyof typeof ConfigSchema.shape, keyof typeof NOT_IN_CONFIG>]?: string | number | boolean;
};

export interface OncelyOptions<D extends readonly Domain[]> {
  /**
   * `postgres://user:pass@host:port/db`: the database holding oncely's tables and the application's. It may be
   * a transaction pooler (PgBouncer `pool_mode = transaction`) when `directDatabaseUrl` is given.
   */
  databaseUrl: string;
  /**
   * The same database straight to PostgreSQL, not through a pooler: what needs a session takes it (the
   * migrations and their lock, pg-boss's pool and its LISTEN, the `Prefer: wait` listener); everything else
   * goes through `databaseUrl`. Default: `databaseUrl`. (DATABASE_DIRECT_URL of the servers.)
   */
  directDatabaseUrl?: string;
  /**
   * What `databaseUrl` is: `transaction` for a transaction pooler (no named prepared statements, no startup
   * settings on it; needs a different `directDatabaseUrl`), `none` for PostgreSQL itself. Default: `transaction`
   * when `directDatabaseUrl` is given and differs from `databaseUrl`, else `none`. (DATABASE_POOLER.)
   */
  pooler?: 'none' | 'transaction';
  /** The domains served (at least one): their command types are the ones accepted. oncely's reference domains are opt-in (`oncely/reference`). */
  domains: D;
  /** Settings by their environment names (`{ WORKER_CONCURRENCY: 8, API_KEYS: 'k1,k2' }`), checked by the same schema. */
  config?: OncelyConfig;
  /** A pino logger of the application's; default: JSON lines on stdout at `LOG_LEVEL`. */
  logger?: Logger;
  /**
   * The PostgreSQL schema oncely's own tables live in (commands, the outbox, its migration journal): default
   * ONCELY_SCHEMA, else `oncely`. A plain lower-case identifier, neither `public` nor `pgboss`.
   */
  schema?: string;
}

/** Which parts run in this process. Both false: submit(tx) only (no HTTP app, no worker). */
export interface OncelyRoles {
  /** The HTTP API (`oncely.app`). */
  api?: boolean;
  /** A worker applying commands. */
  worker?: boolean;
}

/** Options of `submit(tx, commands, options)`. */
export interface SubmitOptions {
  /** Whose commands these are: ids are unique per client (default `anonymous`, the client of HTTP without API keys). */
  clientId?: string;
}

/** The domains' command map, as the typed client takes it (payloads are objects). */
type ClientCommands<D extends readonly Domain[]> = CommandMapOfDomains<D> extends CommandMap ? CommandMapOfDomains<D> : CommandMap;

type EnvelopeOf<D extends readonly Domain[]> = {
  [T in keyof CommandMapOfDomains<D> & string]: CommandEnvelope<T, CommandMapOfDomains<D>[T]>;
}[keyof CommandMapOfDomains<D> & string];

/**
 * An application's oncely. Made by `createOncely`; nothing connects until `migrate()` or `start()`.
 *
 * @example
 * const oncely = createOncely({ databaseUrl, domains: [stockDomain] });
 * await oncely.migrate();
 * await oncely.start({ api: true, worker: true });
 */
// The default (`Oncely` alone) is any oncely, whatever its domains: its typed client makes Oncely<D> invariant in D.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Oncely<D extends readonly Domain[] = any> {
  readonly domains: D;
  /**
   * Creates oncely's schema and applies its migrations there, then each domain's own (`defineDomain`'s
   * `migrations`, journaled per domain), and installs its queue; safe to run from many processes at once.
   */
  migrate(): Promise<void>;
  /** Starts the roles asked for (default: api and worker); refuses to start on a schema `migrate()` has not brought up to date. */
  start(roles?: OncelyRoles): Promise<void>;
  /** The HTTP API as a Hono app: `serve({ fetch: oncely.app.fetch })`, `app.request()`, or mounted in your own app. Needs the api role. */
  readonly app: Hono<{ Variables: { clientId: string } }>;
  /** Stores and queues commands inside your transaction; see `submit`. Needs `start()` (any roles). */
  submit(tx: Transaction, commands: readonly EnvelopeOf<D>[], options?: SubmitOptions): Promise<Submission[]>;
  /**
   * The same for envelopes known only at run time (a request body, a message): `{ untyped: true }` says so, and
   * each one is checked by the intake of `POST /v1/commands` (a `CommandRefusedError` before anything is written).
   */
  submit(tx: Transaction, commands: readonly unknown[], options: SubmitOptions & { untyped: true }): Promise<Submission[]>;
  /**
   * A fetch handler for `/health/live`, `/health/ready` and `/metrics`, whatever the roles: how a worker-only
   * process answers its orchestrator (`serve({ fetch: oncely.health, port: 9464 })`). Ready once started.
   */
  readonly health: (request: Request) => Promise<Response>;
  /** A typed client, its payloads and entities taken from the domains; in-process (the api role) unless `baseUrl` is given. */
  client(options?: Partial<ClientOptions>): Client<ClientCommands<D>, EntityMapOf<D> & EntityMap>;
  /** Stops taking work, finishes what is in flight, closes every connection. Idempotent. */
  stop(): Promise<void>;
}

/** The started instances, for `submit(tx, commands)` without `{ oncely }`. */
const started = new Set<Started>();

interface Started {
  registry: Registry;
  system: System;
}

/** The one started oncely of this process, for the top-level `submit` when none is named. */
function startedInstance(): Started {
  const [only, ...more] = [...started];
  if (!only) throw new OncelyUsageError('submit(tx, commands) needs a started oncely: call createOncely({ databaseUrl, domains }).start() first, or pass { oncely }');
  if (more.length > 0) throw new OncelyUsageError(`${started.size} oncely instances are started in this process: pass { oncely } to submit`);
  return only;
}

/** The instance's own state, reachable by the top-level submit through `{ oncely }`. */
const internals = new WeakMap<object, () => Started>();

function configOf(
  options: Pick<OncelyOptions<readonly Domain[]>, 'databaseUrl' | 'directDatabaseUrl' | 'pooler' | 'config' | 'schema'>,
): Config & { DATABASE_URL: string } {
  const { databaseUrl, config: given = {}, schema } = options;
  const misplaced = Object.keys(given).filter((key) => !Object.hasOwn(ConfigSchema.shape, key) || Object.hasOwn(NOT_IN_CONFIG, key));
  if (misplaced.length > 0) {
    const named = misplaced.flatMap((key) => NOT_IN_CONFIG[key as keyof typeof NOT_IN_CONFIG] ?? []);
    throw new ConfigError(`invalid configuration: unknown setting ${misplaced.join(', ')} (give the database as ${named.length > 0 ? named.join(', ') : 'databaseUrl'})`);
  }
  const env = Object.fromEntries(Object.entries(given).map(([key, value]) => [key, value === undefined ? undefined : String(value)]));
  if (schema !== undefined) {
    const problem = typeof schema === 'string' ? schemaNameProblem(schema) : 'must be a string';
    if (problem) throw new ConfigError(`invalid configuration: schema ${problem}`);
  }
  const config = parseConfig({
    ...env,
    DATABASE_URL: databaseUrl,
    ...(options.directDatabaseUrl === undefined ? {} : { DATABASE_DIRECT_URL: options.directDatabaseUrl }),
    ...(options.pooler === undefined ? {} : { DATABASE_POOLER: options.pooler }),
    ...(schema === undefined ? {} : { ONCELY_SCHEMA: schema }),
  });
  return { ...config, DATABASE_URL: databaseUrl };
}

/**
 * oncely inside your application: your domains served, migrated when you say, your commands submitted
 * inside your own transactions. Checks the domains and the configuration at once (a `ConfigError` names
 * every bad setting); connects nothing until `migrate()` or `start()`.
 *
 * @example
 * const oncely = createOncely({ databaseUrl, domains: [...referenceDomains, stockDomain], config: { WORKER_CONCURRENCY: 8 } });
 * await runMyMigrations();
 * await oncely.migrate();
 * await oncely.start(); // api and worker
 * serve({ fetch: oncely.app.fetch, port: 3000 });
 * await pool.query('BEGIN'); ...; await oncely.submit(client, [{ id: 'o-1-reserve', type: 'stock.reserve', entityId: 'r-1', payload }]); ...
 * await oncely.stop();
 */
export function createOncely<const D extends readonly Domain[]>(options: OncelyOptions<D>): Oncely<D> {
  const config = configOf(options);
  requireDomains(options.domains, 'createOncely');
  const registry = createRegistry(commandsOf(options.domains));
  const log = options.logger ?? createLogger(config.LOG_LEVEL, 'oncely');
  let system: System | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  const running = (what: string): Started => {
    if (!system) throw new OncelyUsageError(stopping ? `${what}: this oncely was stopped` : `${what} needs a started oncely: await oncely.start() first`);
    return { registry, system };
  };

  const oncely: Oncely<D> = {
    domains: options.domains,
    async migrate() {
      await migrateSystem(config.DATABASE_URL, config, options.domains);
      // pg-boss installs its schema and oncely creates its queues on start; doing it here too lets the
      // application's api and worker processes start against a fully installed database.
      const queue = await startQueue(
        queueSettings(config, {
          connectionString: directUrlOf(config, config.DATABASE_URL),
          applicationName: 'oncely-migrate',
          onError: (err) => log.warn({ err: { message: err.message } }, 'database error while migrating'),
        }),
      );
      await queue.stop();
    },
    start(roles = { api: true, worker: true }) {
      if (stopping) return Promise.reject(new OncelyUsageError('this oncely was stopped: create a new one'));
      starting ??= (async () => {
        const next = await startSystem({
          config,
          roles: { api: roles.api ?? false, worker: roles.worker ?? false },
          log,
          domains: options.domains,
          registry,
          migrate: false,
        });
        if (!(await next.ready().catch(() => false))) {
          await next.stop();
          throw new OncelyUsageError("oncely's schema is not current in this database: run oncely.migrate() (or `npx oncely migrate`) first");
        }
        system = next;
        started.add(self);
      })();
      // A start that failed (the database down, the schema not migrated) may be tried again.
      starting.catch(() => (starting = undefined));
      return starting;
    },
    get app() {
      const app = running('oncely.app').system.app;
      if (!app) throw new OncelyUsageError('oncely.app needs the api role: start({ api: true })');
      return app;
    },
    submit(tx: Transaction, commands: readonly unknown[], submitOptions: SubmitOptions & { untyped?: true } = {}) {
      const { system: current } = running('oncely.submit');
      // Checked at run time either way (submitEnvelopes runs every envelope through the intake).
      return submitEnvelopes(
        { registry, enqueue: current.enqueue, schema: current.schema },
        tx,
        commands as readonly CommandEnvelope[],
        submitOptions.clientId ?? 'anonymous',
      );
    },
    health: createHealthHandler(() => system),
    client(clientOptions = {}) {
      const inProcess = clientOptions.baseUrl === undefined;
      return createClient<ClientCommands<D>, EntityMapOf<D> & EntityMap>({
        baseUrl: clientOptions.baseUrl ?? 'http://oncely.local',
        domains: options.domains,
        ...(clientOptions.apiKey === undefined ? {} : { apiKey: clientOptions.apiKey }),
        ...(clientOptions.fetch ? { fetch: clientOptions.fetch } : inProcess ? { fetch: async (url, init) => oncely.app.request(url, init) } : {}),
      });
    },
    stop() {
      stopping ??= (async () => {
        await starting?.catch(() => {});
        started.delete(self);
        const stopped = system;
        // From here on submit() and app refuse with a clear error instead of using a stopping queue.
        system = undefined;
        await stopped?.stop();
      })();
      return stopping;
    },
  };
  const self: Started = {
    registry,
    get system() {
      return running('submit').system;
    },
  };
  internals.set(oncely, () => running('submit'));
  return oncely;
}

/**
 * Stores commands and queues their jobs inside the caller's own transaction: they commit with the
 * caller's writes or vanish with them. `tx` is a pg.Client or pg.PoolClient after BEGIN, or a drizzle
 * node-postgres transaction. Every command is checked first against the domains (`options.domains`, or
 * the oncely's): a bad one throws `CommandRefusedError` (reason code and detail) before anything is
 * written, so the caller's transaction rolls back whole. Each command comes back as `accepted` (new),
 * `duplicate` (this id was stored with the same request: nothing new is created) or `reused` (this id was
 * stored with another request; the stored status is returned and nothing is written), with its status.
 * The commands are applied by workers once the transaction commits.
 *
 * The oncely is `options.oncely`, or the one started in this process.
 *
 * @example
 * await db.transaction(async (tx) => {
 *   await tx.insert(shopOrders).values({ id: 'order-42', sku: 'apple', quantity: 3 });
 *   const [reserve] = await submit(tx, [{ id: 'order-42-reserve', type: 'stock.reserve', entityId: 'r-order-42', payload: { orderId: 'order-42', sku: 'apple', quantity: 3 } }]);
 *   reserve.outcome; // 'accepted' (or 'duplicate' when this order was submitted before)
 * });
 */
export async function submit(
  tx: Transaction,
  commands: readonly CommandEnvelope[],
  options: SubmitOptions & { oncely?: Oncely; domains?: readonly Domain[] } = {},
): Promise<Submission[]> {
  const instance = options.oncely ? internals.get(options.oncely)?.() : startedInstance();
  if (!instance) throw new OncelyUsageError('submit(tx, commands, { oncely }) needs an instance made by createOncely');
  let registry = instance.registry;
  if (options.domains) {
    // Only types this oncely also serves: anything else would be stored and never applied.
    const served = instance.registry;
    // The served definitions, not the caller's: a same-named type with a looser schema must not let through
    // payloads the worker would refuse.
    const narrowed = createRegistry(commandsOf(options.domains).flatMap((definition) => served.get(definition.type) ?? []));
    registry = narrowed;
  }
  return submitEnvelopes({ registry, enqueue: instance.system.enqueue, schema: instance.system.schema }, tx, commands, options.clientId ?? 'anonymous');
}
