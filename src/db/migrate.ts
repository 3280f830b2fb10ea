import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

// Any constant works; it only has to be the same for every process that migrates this database.
const MIGRATION_LOCK = 7_245_113_001;

/** Applies the SQL migrations in `migrations/`, one process at a time. */
export async function runMigrations(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  client.on('error', () => {});
  await client.connect();
  try {
    // Many api and worker processes may start together: the lock makes them migrate one after another.
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await client.end();
  }
}

/** How many migrations the journal in `migrations/` lists. */
export async function expectedMigrationCount(): Promise<number> {
  const journal = JSON.parse(await readFile(`${MIGRATIONS_FOLDER}/meta/_journal.json`, 'utf8')) as { entries: unknown[] };
  return journal.entries.length;
}

/** Whether the database carries every migration this code expects. */
export async function isSchemaCurrent(pool: pg.Pool, expected: number): Promise<boolean> {
  const { rows } = await pool.query<{ applied: number }>(`SELECT count(*)::int AS applied FROM drizzle.__drizzle_migrations`);
  return (rows[0]?.applied ?? 0) >= expected;
}
