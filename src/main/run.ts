// Shared lifecycle for the entry points: parse config once, start, serve, stop cleanly on a signal.
import { chmod, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { ConfigError, parseConfig, type Config } from '../config.ts';
import { maskPassword, startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.ts';
import { createLogger } from '../log.ts';
import { startingResponse, startSystem, type Roles, type Seams, type System } from '../system.ts';
import { waitForDatabase } from '../db/wait.ts';
import { configuredDatabaseUrl, embeddedUrlFile } from './environment.ts';
import { startMetricsListener, type MetricsListener } from '../metrics/listener.ts';
import type { Domain } from '../core/domain.ts';
import type { Registry } from '../core/registry.ts';
import { referenceDomains } from '../domains/index.ts';

/** Prints one line and exits non-zero: the way every entry point reports a fatal problem. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`oncely: ${message}\n`);
  process.exit(code);
}

export function loadConfig(): Config {
  try {
    return parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 2);
    throw err;
  }
}

/**
 * The embedded PostgreSQL for `npm start` without DATABASE_URL, data under DATA_DIR (or, when the server's
 * user cannot reach DATA_DIR, where the printed notice and DATA_DIR/postgres-data-dir say).
 */
export async function startEmbedded(config: Config): Promise<EmbeddedServer> {
  const server = await startEmbeddedPostgres({ dataDir: path.join(config.DATA_DIR, 'pg') });
  await mkdir(config.DATA_DIR, { recursive: true });
  // The URL carries the superuser's password: readable by this user alone (chmod too: an older file kept its mode).
  await writeFile(embeddedUrlFile(config), server.url + '\n', { mode: 0o600 });
  await chmod(embeddedUrlFile(config), 0o600);
  await writeFile(path.resolve(config.DATA_DIR, 'postgres-data-dir'), server.dataDir + '\n');
  if (server.notice) process.stdout.write(`oncely: ${server.notice}\n`);
  return server;
}

/** DATABASE_URL, or the URL of the embedded PostgreSQL that `npm start` is running. */
export async function databaseUrl(config: Config): Promise<string> {
  return (
    (await configuredDatabaseUrl(config)) ?? fail('DATABASE_URL is not set and no embedded PostgreSQL is running (start one with `npm start` or `npm run postgres`)', 2)
  );
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ECONNREFUSED') return 'cannot connect to DATABASE_URL: connection refused';
  if (e?.code === 'ENOTFOUND') return 'cannot connect to DATABASE_URL: host not found';
  if (e?.code === '28P01' || e?.code === '28000') return 'cannot connect to DATABASE_URL: authentication failed';
  if (e?.code === '3D000') return 'cannot connect to DATABASE_URL: database does not exist';
  return `startup failed: ${e?.message ?? String(err)}`;
}

export interface RunOptions {
  /** Start the embedded PostgreSQL when DATABASE_URL is unset (`npm start`). */
  embedded?: boolean;
  /** The domains served; default: the reference domains (the demo `npm start` serves). */
  domains?: readonly Domain[];
  /** The command types applied and accepted; default: the domains' own. */
  registry?: Registry;
  /**
   * The seams (src/system.ts) a harness's or a test's entry reaches into the roles through, given the database
   * URL once it is known (the chaos harness's fault hooks connect to it); `npm start` and its siblings pass none.
   */
  seams?: (databaseUrl: string) => Seams;
}

/**
 * Starts the roles, serves HTTP if asked, and on SIGTERM/SIGINT stops taking work, drains and exits 0.
 *
 * @example
 * await run({ api: false, worker: true });
 */
export async function run(roles: Roles, options: RunOptions = {}): Promise<void> {
  const config = loadConfig();
  const log = createLogger(
    config.LOG_LEVEL,
    roles.api && roles.worker ? 'oncely' : roles.api ? 'oncely-api' : roles.worker ? 'oncely-worker' : roles.relay ? 'oncely-relay' : 'oncely-inbox',
  );
  let embedded: EmbeddedServer | undefined;
  let url: string;
  try {
    if (!config.DATABASE_URL && options.embedded) {
      embedded = await startEmbedded(config);
      url = embedded.url;
    } else {
      url = await databaseUrl(config);
    }
  } catch (err) {
    fail(`could not start the embedded PostgreSQL: ${(err as Error).message}`);
  }

  // The listeners open before the database is reached: while the process waits for it, /health/live answers
  // 200 and /health/ready 503, so an orchestrator neither restarts it nor routes traffic to it.
  // Set once the system has started; until then the listeners answer as a process still starting.
  const live: { system?: System } = {};
  let server: ServerType | undefined;
  if (roles.api) {
    server = await new Promise<ServerType>((resolve) => {
      const s = serve(
        { fetch: (request, env) => (live.system?.app ? live.system.app.fetch(request, env) : startingResponse(request)), port: config.PORT, hostname: config.HOST },
        () => resolve(s),
      );
      s.on('error', (err: NodeJS.ErrnoException) =>
        fail(err.code === 'EADDRINUSE' ? `PORT ${config.PORT} on HOST ${config.HOST} is already in use` : `cannot listen: ${err.message}`),
      );
    });
  }
  // A process without the API (a worker) is scraped here; with the API, /metrics is on PORT as well.
  let metricsListener: MetricsListener | undefined;
  if (config.METRICS_PORT !== undefined) {
    metricsListener = await startMetricsListener({
      port: config.METRICS_PORT,
      host: config.HOST,
      metrics: { render: () => (live.system ? live.system.metrics.render() : Promise.resolve({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' })) },
      ready: () => (live.system ? live.system.ready() : Promise.resolve(false)),
    }).catch((err: NodeJS.ErrnoException) =>
      fail(err.code === 'EADDRINUSE' ? `METRICS_PORT ${config.METRICS_PORT} on HOST ${config.HOST} is already in use` : `cannot listen: ${err.message}`),
    );
  }

  let stopping = false;
  const waiting = new AbortController();
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    waiting.abort();
    // Still waiting for the database: nothing was started, so there is nothing to drain.
    const system = live.system;
    if (!system) process.exit(0);
    const hardStop = setTimeout(() => fail('did not stop within 30 seconds'), 30_000);
    hardStop.unref();
    // Open waits are answered now, with their commands' current status; then the server closes without waiting on them.
    system.endWaits();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await metricsListener?.stop();
    await system.stop();
    await embedded?.stop();
    process.exit(0);
  };
  // A stop that fails ends the process with one line, never an unhandled rejection (a stack trace).
  const onSignal = (signal: string) => void stop(signal).catch((err: unknown) => fail(`stopping failed: ${(err as Error)?.message ?? String(err)}`));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  await waitForDatabase(url, {
    seconds: config.DATABASE_WAIT_SECONDS,
    signal: waiting.signal,
    onAttempt: (attempt, reason, retryInMs) => log.warn({ attempt, reason, retryInMs }, 'waiting for PostgreSQL'),
  }).catch((err: unknown) => (stopping ? new Promise<never>(() => {}) : fail((err as Error).message)));

  const registry = options.registry;
  const started = await startSystem(
    { config: { ...config, DATABASE_URL: url }, roles, log, domains: options.domains ?? referenceDomains, ...(registry ? { registry } : {}) },
    options.seams?.(url) ?? {},
  ).catch((err: unknown) => fail(describe(err)));
  if (stopping) {
    await started.stop();
    return;
  }
  live.system = started;

  if (server) {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    log.info({ url: `http://${config.HOST}:${port}` }, 'listening');
    process.stdout.write(`oncely listening on http://${config.HOST}:${port}${embedded ? ` (embedded PostgreSQL at ${maskPassword(embedded.url)})` : ''}\n`);
  } else {
    log.info(roles.worker ? 'worker started' : roles.relay ? 'relay started' : 'inbox started');
  }
  if (metricsListener) {
    log.info({ url: `http://${config.HOST}:${metricsListener.port}/metrics` }, 'metrics listening');
    process.stdout.write(`oncely metrics on http://${config.HOST}:${metricsListener.port}/metrics\n`);
  }
}
