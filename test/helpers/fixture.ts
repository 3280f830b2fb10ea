// The integration tests' one fixture. Per test file (or per describe block it is called in): a database of
// its own, cloned from the migrated template in milliseconds (or empty), made before the first test; after
// the last, every system the file started and did not stop is stopped, then the database is dropped. A
// stop that fails fails the file (a leaked pool is a bug). Called at the top of a file:
//
//   const { db, system } = useTestSystem({ roles: { api: true, worker: false } });
//   const db = useTestDatabase();
import { afterAll, beforeAll } from 'vitest';
import type { System } from '../../src/system.ts';
import { pendingDatabase, type TestDatabase } from './db.ts';
import { startTestSystem, systemsLeftRunning, systemsStarted, type TestSystemOptions } from './system.ts';

/**
 * A database for this file (or describe block): usable in its tests and in the hooks declared after this
 * call; dropped after its last test, once the systems left running are stopped.
 *
 * @example
 * const db = useTestDatabase();
 * it('...', async () => { await db.pool.query('SELECT 1'); });
 */
export function useTestDatabase(options: { empty?: boolean } = {}): TestDatabase {
  const db = pendingDatabase(options.empty ? 'empty' : 'template');
  let since = 0;
  beforeAll(async () => {
    since = systemsStarted();
    await db.create();
  });
  // Declared first, so it runs after every afterAll declared later (vitest runs them as a stack).
  afterAll(async () => {
    for (const system of systemsLeftRunning(since)) await system.stop();
    await db.drop();
  });
  return db;
}

/**
 * A database and a system over it (api and worker unless `roles` says otherwise), started before the first
 * test. `system` stands for the started system: read it in tests and later hooks, not at the top level.
 *
 * @example
 * const { db, system } = useTestSystem({ env: { WORKER_CONCURRENCY: '8' } });
 * it('...', async () => { await system.app!.request('/health/ready'); });
 */
export function useTestSystem(options: TestSystemOptions & { empty?: boolean } = {}): { db: TestDatabase; system: System } {
  const db = useTestDatabase(options);
  let started: System | undefined;
  beforeAll(async () => {
    started = await startTestSystem(db.url, options);
  });
  const current = (): System => {
    if (!started) throw new Error('the fixture system starts in beforeAll: use it inside a test or a later hook');
    return started;
  };
  const system: System = {
    get app() {
      return current().app;
    },
    get commands() {
      return current().commands;
    },
    get pool() {
      return current().pool;
    },
    get metrics() {
      return current().metrics;
    },
    get enqueue() {
      return current().enqueue;
    },
    get schema() {
      return current().schema;
    },
    ready: () => current().ready(),
    endWaits: () => current().endWaits(),
    stop: () => current().stop(),
  };
  return { db, system };
}
