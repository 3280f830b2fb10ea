import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrlFor } from './urls.ts';

export interface TestDatabase {
  url: string;
  name: string;
  /** A pool for the test's own reads and checks; ended by drop(). */
  pool: pg.Pool;
  /** Drops the database (once: a second call does nothing). */
  drop(): Promise<void>;
}

/** A database named and pooled now, made by `create()`: what the file fixture hands out before its beforeAll runs. */
export interface PendingDatabase extends TestDatabase {
  create(): Promise<void>;
}

async function asAdmin(statement: string): Promise<void> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    await admin.query(statement);
  } finally {
    await admin.end();
  }
}

/**
 * A database of its own, named now and created by `create()`: cloned from the migrated template (pg-boss
 * installed, queues created), or empty (nothing of oncely's, no pg-boss).
 */
export function pendingDatabase(kind: 'template' | 'empty'): PendingDatabase {
  const name = `oncely_${kind === 'template' ? 't' : 'e'}_${randomBytes(6).toString('hex')}`;
  const url = databaseUrlFor(inject('adminUrl'), name);
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on('error', () => {});
  let dropping: Promise<void> | undefined;
  return {
    url,
    name,
    pool,
    create: () => asAdmin(kind === 'template' ? `CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}` : `CREATE DATABASE ${name}`),
    drop() {
      dropping ??= (async () => {
        await pool.end();
        await asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      })();
      return dropping;
    },
  };
}

/** A fresh database cloned from the migrated template (pg-boss installed, queues created). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const db = pendingDatabase('template');
  await db.create();
  return db;
}

/** A fresh, empty database (not cloned from the template): nothing of oncely's, no pg-boss. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const db = pendingDatabase('empty');
  await db.create();
  return db;
}
