// oncely's migrator: its own tables in a schema of their own (src/db/engine-schema.ts), a journal there
// (`<schema>.migrations`, one line per applied file and domain), the engine's migrations first, then each
// served domain's own, in the order the domains are given. A database made by oncely 0.1 (every table in
// `public`, drizzle's journal) is upgraded in place on the way (upgradeLegacy below).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Domain } from '../core/domain.ts';
import { DEFAULT_SCHEMA, checkSchemaName, qualified } from './engine-schema.ts';

/** oncely's own migrations (drizzle-kit's output over src/db/schema.ts, schema `oncely`). */
export const ENGINE_MIGRATIONS = fileURLToPath(new URL('../../migrations/engine', import.meta.url));

/** The journal's domain key of oncely's own migrations. */
export const ENGINE_DOMAIN = 'oncely';

// Any constant works; it only has to be the same for every process that migrates this database.
const MIGRATION_LOCK = 7_245_113_001;

const BREAKPOINT = '--> statement-breakpoint';

/** One migration file of a domain (or of the engine). */
export interface MigrationFile {
  /** The file name without `.sql`: what the journal records. */
  name: string;
  path: string;
}

/** What the migrator needs of a domain: its name (the journal's key) and its migrations folder. */
export type MigratedDomain = Pick<Domain, 'name' | 'migrations'>;

export interface MigrateOptions {
  /** The schema oncely's tables live in (default `oncely`). */
  schema?: string;
  /** The domains whose own migrations are applied after the engine's, in this order. */
  domains?: readonly MigratedDomain[];
}

/** An applied migration whose file changed since, or a folder that cannot be read. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

const folderOf = (location: string | URL): string => (location instanceof URL ? fileURLToPath(location) : path.resolve(location));

/**
 * The migration files of a folder, in the order they apply: drizzle-kit's journal order when the folder has
 * `meta/_journal.json`, else every `.sql` file in name order.
 *
 * @example
 * const files = await migrationFiles(new URL('../migrations', import.meta.url));
 */
export async function migrationFiles(location: string | URL): Promise<MigrationFile[]> {
  const folder = folderOf(location);
  const journal = path.join(folder, 'meta', '_journal.json');
  if (existsSync(journal)) {
    const { entries } = JSON.parse(await readFile(journal, 'utf8')) as { entries: { tag: string }[] };
    return entries.map(({ tag }) => ({ name: tag, path: path.join(folder, `${tag}.sql`) }));
  }
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    throw new MigrationError(`cannot read the migrations folder ${folder}: ${(err as Error).message}`, { cause: err });
  }
  return names
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name: name.slice(0, -'.sql'.length), path: path.join(folder, name) }));
}

/** Every migration line to apply, in order: the engine's, then each domain's that names a folder. */
async function migrationLines(domains: readonly MigratedDomain[]): Promise<{ domain: string; files: MigrationFile[] }[]> {
  const lines = [{ domain: ENGINE_DOMAIN, files: await migrationFiles(ENGINE_MIGRATIONS) }];
  for (const domain of domains) {
    if (domain.migrations === undefined) continue;
    if (domain.name === ENGINE_DOMAIN) throw new MigrationError(`a domain named ${ENGINE_DOMAIN} cannot have migrations: the journal keeps oncely's own under that name`);
    lines.push({ domain: domain.name, files: await migrationFiles(domain.migrations) });
  }
  return lines;
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The statements of one migration file. The engine's are written for the schema `oncely`: its quoted name is
 * replaced by the configured one (and the schema, already created, is created only if missing).
 */
function statementsOf(text: string, domain: string, schema: string): string[] {
  const sql = domain === ENGINE_DOMAIN ? text.replaceAll(`"${DEFAULT_SCHEMA}"`, `"${schema}"`).replace(/CREATE SCHEMA "/g, 'CREATE SCHEMA IF NOT EXISTS "') : text;
  return sql
    .split(BREAKPOINT)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
}

// ---- Upgrading a database made by oncely 0.1 ----
// oncely 0.1 put everything in `public` (its five migrations, recorded in drizzle's journal): commands,
// outbox_events, and the reference domains' tables. The engine's tables move into the schema (ALTER TABLE
// ... SET SCHEMA keeps rows, indexes, constraints and the outbox's sequence); the engine's baseline is
// recorded as applied, and so is each reference domain's migration whose tables are there. Nothing is dropped.
const LEGACY_JOURNAL = 'drizzle.__drizzle_migrations';
const LEGACY_MIGRATIONS = 5;
const REFERENCE_MIGRATIONS = fileURLToPath(new URL('../../migrations/reference', import.meta.url));
/** The reference domains' tables as oncely 0.1 created them, by domain (the journal's key). */
const LEGACY_REFERENCE_TABLES: Record<string, readonly string[]> = {
  accounts: ['accounts', 'ledger_entries'],
  orders: ['orders'],
  'red-packets': ['red_packets'],
};

async function upgradeLegacy(client: pg.Client, schema: string): Promise<void> {
  const { rows } = await client.query<{ journal: boolean; legacy: boolean; moved: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS journal, to_regclass('public.commands') IS NOT NULL AS legacy, to_regclass($2) IS NOT NULL AS moved`,
    [LEGACY_JOURNAL, qualified(schema, 'commands')],
  );
  const found = rows[0];
  if (!found?.journal || !found.legacy || found.moved) return;
  const { rows: count } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${LEGACY_JOURNAL}`);
  if ((count[0]?.n ?? 0) < LEGACY_MIGRATIONS) {
    throw new MigrationError(
      `this database has oncely's tables in public from before oncely 0.1.0 (${count[0]?.n ?? 0} of its ${LEGACY_MIGRATIONS} migrations): migrate it with oncely 0.1 first, then with this version`,
    );
  }
  const [baseline] = await migrationFiles(ENGINE_MIGRATIONS);
  if (!baseline) throw new MigrationError(`no engine migrations in ${ENGINE_MIGRATIONS}`);
  await client.query('BEGIN');
  try {
    for (const table of ['commands', 'outbox_events']) await client.query(`ALTER TABLE public.${table} SET SCHEMA "${schema}"`);
    const record = async (domain: string, file: MigrationFile) =>
      client.query(`INSERT INTO ${qualified(schema, 'migrations')} (domain, name, hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        domain,
        file.name,
        hashOf(await readFile(file.path, 'utf8')),
      ]);
    await record(ENGINE_DOMAIN, baseline);
    for (const [domain, tables] of Object.entries(LEGACY_REFERENCE_TABLES)) {
      const { rows: present } = await client.query<{ all: boolean }>(`SELECT bool_and(to_regclass('public.' || t) IS NOT NULL) AS all FROM unnest($1::text[]) AS t`, [
        tables,
      ]);
      if (!present[0]?.all) continue;
      for (const file of await migrationFiles(path.join(REFERENCE_MIGRATIONS, domain))) await record(domain, file);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
// ---- end of the upgrade from oncely 0.1 ----

/**
 * Applies oncely's migrations into `schema`, then each domain's own, one process at a time (an advisory
 * lock): safe to run from every process at start. Each file runs in a transaction of its own and is recorded
 * in `<schema>.migrations` by domain and name; an applied file whose content changed is refused.
 *
 * @example
 * await runMigrations(url, { schema: 'oncely', domains: [stockDomain] });
 */
export async function runMigrations(connectionString: string, options: MigrateOptions = {}): Promise<void> {
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const lines = await migrationLines(options.domains ?? []);
  const journal = qualified(schema, 'migrations');
  const client = new pg.Client({ connectionString });
  client.on('error', () => {});
  await client.connect();
  try {
    // Many api and worker processes may start together: the lock makes them migrate one after another.
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${journal} (
        domain text NOT NULL,
        name text NOT NULL,
        hash text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (domain, name)
      )`,
    );
    await upgradeLegacy(client, schema);
    const { rows } = await client.query<{ domain: string; name: string; hash: string }>(`SELECT domain, name, hash FROM ${journal}`);
    const applied = new Map(rows.map((row) => [`${row.domain}/${row.name}`, row.hash]));
    for (const { domain, files } of lines) {
      for (const file of files) {
        const text = await readFile(file.path, 'utf8');
        const hash = hashOf(text);
        const recorded = applied.get(`${domain}/${file.name}`);
        if (recorded !== undefined) {
          if (recorded !== hash) {
            throw new MigrationError(
              `migration ${file.name} of ${domain} was applied, and its file has changed since (${file.path}): restore it, and put changes in a new migration`,
            );
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          for (const statement of statementsOf(text, domain, schema)) await client.query(statement);
          await client.query(`INSERT INTO ${journal} (domain, name, hash) VALUES ($1, $2, $3)`, [domain, file.name, hash]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw new MigrationError(`migration ${file.name} of ${domain} failed: ${(err as Error).message}`, { cause: err });
        }
      }
    }
  } finally {
    await client.end();
  }
}

/** The migrations a schema must carry for these domains: `domain/name` of each. */
export async function expectedMigrations(domains: readonly MigratedDomain[]): Promise<string[]> {
  return (await migrationLines(domains)).flatMap(({ domain, files }) => files.map((file) => `${domain}/${file.name}`));
}

/**
 * Whether the journal in `schema` lists every expected migration (from `expectedMigrations`): the engine's
 * and those of each served domain. False when there is no journal at all.
 *
 * @example
 * const ready = await isSchemaCurrent(pool, 'oncely', await expectedMigrations(domains));
 */
export async function isSchemaCurrent(pool: pg.Pool, schema: string, expected: readonly string[]): Promise<boolean> {
  const journal = qualified(schema, 'migrations');
  const { rows: exists } = await pool.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [journal]);
  if (!exists[0]?.present) return false;
  const { rows } = await pool.query<{ missing: number }>(
    `SELECT count(*)::int AS missing FROM unnest($1::text[]) AS e(key) WHERE NOT EXISTS (SELECT 1 FROM ${journal} j WHERE j.domain || '/' || j.name = e.key)`,
    [expected],
  );
  return (rows[0]?.missing ?? 1) === 0;
}
