// Starts one PostgreSQL for the run (DATABASE_URL's server, or an embedded PostgreSQL 18) and builds a
// migrated template database that every test file clones in milliseconds.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedServer } from '../../src/db/embedded.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { startQueue } from '../../src/queue/boss.ts';
import { databaseUrlFor } from './urls.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  let embedded: EmbeddedServer | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env['DATABASE_URL'];
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'oncely-test-pg-'));
    // PostgreSQL runs as its own user when we are root: it must be able to reach its data directory.
    await chmod(dataDir, 0o755);
    try {
      embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'data'), persistent: false });
    } catch (err) {
      if (!(err instanceof EmbeddedPostgresError)) throw err;
      // One line a user can act on, not a stack trace.
      process.stderr.write(`oncely tests: could not start the embedded PostgreSQL: ${err.message}\n`);
      process.exit(1);
    }
    adminUrl = embedded.url;
  }
  const templateDatabase = `oncely_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
  process.stdout.write(`tests run against PostgreSQL ${rows[0]?.server_version} (${embedded ? 'embedded' : 'DATABASE_URL'})\n`);
  await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase}`);
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  const templateUrl = databaseUrlFor(adminUrl, templateDatabase);
  // The reference domains' tables too: the tests serve them (a test of a library user's database migrates its own).
  await runMigrations(templateUrl, { domains: referenceDomains });
  const queue = await startQueue({
    connectionString: templateUrl,
    maxAttempts: 5,
    expireSeconds: 15,
    superviseIntervalSeconds: 5,
    supervise: false,
    poolSize: 2,
    applicationName: 'oncely-template',
    onError: () => {},
  });
  await queue.stop();
  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
