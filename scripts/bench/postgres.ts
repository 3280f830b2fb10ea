// The PostgreSQL the benchmark runs against, and its scratch databases.
//
// Without DATABASE_URL: a throwaway embedded PostgreSQL under a mktemp-style folder in os.tmpdir(), restarted
// once with pg_stat_statements preloaded so statements per command can be counted. With DATABASE_URL: that
// server, untouched except for scratch databases bench_<run>_* that are created and dropped here (the named
// database is only used to create and drop them).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

export interface Server {
  /** URL of the maintenance database (used only to create and drop scratch databases). */
  adminUrl: string;
  kind: 'embedded' | 'external';
  version: string;
  /** Whether pg_stat_statements is preloaded, so statement counts can be reported. */
  statementsAvailable: boolean;
  /** Why not, when it is not. */
  statementsNote: string;
  /** Scratch databases created and not yet dropped. */
  scratch: Set<string>;
  stop(): Promise<void>;
}

export function urlFor(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'oncely-bench' });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function describeServer(url: string): Promise<{ version: string; preloaded: boolean }> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ v: string; libs: string }>(
      `SELECT current_setting('server_version') AS v, current_setting('shared_preload_libraries') AS libs`,
    );
    const row = rows[0]!;
    return {
      version: row.v,
      preloaded: row.libs
        .split(',')
        .map((s) => s.trim())
        .includes('pg_stat_statements'),
    };
  });
}

/**
 * Starts (or connects to) the server.
 *
 * @example
 * const server = await openServer(process.env.DATABASE_URL);
 * await server.stop();
 */
export async function openServer(databaseUrl: string | undefined, log: (line: string) => void): Promise<Server> {
  if (databaseUrl) {
    const info = await describeServer(databaseUrl);
    return {
      adminUrl: databaseUrl,
      kind: 'external',
      version: info.version,
      statementsAvailable: info.preloaded,
      statementsNote: info.preloaded ? '' : 'pg_stat_statements is not in shared_preload_libraries of DATABASE_URL (not changed by the bench)',
      scratch: new Set(),
      async stop() {},
    };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oncely-bench-'));
  await chmod(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  const removeDir = () => rm(dir, { recursive: true, force: true });
  try {
    log('starting an embedded PostgreSQL ...');
    // First start initialises the cluster; pg_stat_statements needs a restart to be preloaded.
    const first = await startEmbeddedPostgres({ dataDir, persistent: true });
    let preloadError = '';
    try {
      await withClient(first.url, (client) => client.query(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`));
    } catch (err) {
      preloadError = (err as Error).message;
    }
    await first.stop();
    const server = await startEmbeddedPostgres({ dataDir, persistent: false });
    const info = await describeServer(server.url).catch(async (err: unknown) => {
      await server.stop();
      throw err;
    });
    return {
      adminUrl: server.url,
      kind: 'embedded',
      version: info.version,
      statementsAvailable: info.preloaded,
      statementsNote: info.preloaded ? '' : `pg_stat_statements could not be preloaded${preloadError ? `: ${preloadError}` : ''}`,
      scratch: new Set(),
      async stop() {
        await server.stop();
        await removeDir();
      },
    };
  } catch (err) {
    await removeDir();
    throw err;
  }
}

export async function createDatabase(server: Server, name: string): Promise<string> {
  await withClient(server.adminUrl, (client) => client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  server.scratch.add(name);
  return urlFor(server.adminUrl, name);
}

export async function dropDatabase(server: Server, name: string): Promise<void> {
  await withClient(server.adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  });
  server.scratch.delete(name);
}

/** Drops every scratch database still there (after an interruption). */
export async function dropScratchDatabases(server: Server): Promise<void> {
  for (const name of [...server.scratch]) await dropDatabase(server, name).catch(() => {});
}
