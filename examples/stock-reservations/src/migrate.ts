// The application's own migrations: every migrations/*.sql once, in name order, recorded in a table of its
// own (never oncely's), one process at a time. oncely's migrations are oncely.migrate(); the application
// decides which run first (these reference nothing of oncely's, so either order works).
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';

const FOLDER = new URL('../migrations/', import.meta.url);
// Any constant, as long as every process of this application uses the same one.
const LOCK = 42_4242;

export async function migrateStock(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS stock_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const applied = new Set((await client.query<{ name: string }>('SELECT name FROM stock_migrations')).rows.map((row) => row.name));
    for (const name of (await readdir(FOLDER)).filter((file) => file.endsWith('.sql')).sort()) {
      if (applied.has(name)) continue;
      await client.query('BEGIN');
      try {
        await client.query(await readFile(new URL(name, FOLDER), 'utf8'));
        await client.query('INSERT INTO stock_migrations (name) VALUES ($1)', [name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.end();
  }
}
