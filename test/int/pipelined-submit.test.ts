// A pipelined submission flush sends BEGIN with the command insert and COMMIT with the job insert. These
// tests prove the order the statements are queued in (COMMIT only after the job insert, even though the queue
// adapter awaits before it sends), and that a failed job insert leaves nothing behind.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import { createGroupSubmitter } from '../../src/processor/submit.ts';
import type { Enqueue } from '../../src/processor/ports.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { watchQueries } from '../helpers/queries.ts';
import { startTestSystem } from '../helpers/system.ts';

const db = useTestDatabase();
let pool: pg.Pool;

/** The text of every statement queued on a pipelined client, in the order queued. */
const queued: string[] = [];
let restoreQueries = () => {};

beforeAll(() => {
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'test-pipelined', onError: () => {}, pipeline: true });
  restoreQueries = watchQueries((client: pg.Client & { pipeline?: boolean }, config) => {
    if (client.pipeline) queued.push(typeof config === 'string' ? config : (config as { text: string }).text);
  });
});
afterAll(async () => {
  restoreQueries();
  await pool?.end();
});
afterEach(() => {
  queued.length = 0;
});

const command = (id: string) => ({ id, type: 'account.open', entityId: `e-${id}`, expectedVersion: undefined, payload: {} });
const kinds = (texts: readonly string[]) =>
  texts.map((text) =>
    text === 'BEGIN' || text === 'COMMIT' || text === 'ROLLBACK'
      ? text
      : /insert into "oncely"\."commands"/i.test(text)
        ? 'commands'
        : /job/i.test(text)
          ? 'jobs'
          : text.slice(0, 40),
  );

describe('pipelined submission flush', () => {
  it('queues COMMIT only after the job insert, though the queue adapter waits before sending it', async () => {
    const slowEnqueue: Enqueue = async (sql) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      await sql.query(`SELECT 'job' AS job`);
    };
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: slowEnqueue });
    const [submission] = await submitter.submit('anonymous', [command('p1')]);
    expect(submission?.outcome).toBe('accepted');
    expect(kinds(queued)).toEqual(['BEGIN', 'commands', 'jobs', 'COMMIT']);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = 'p1'`);
    expect(rows[0]?.n).toBe(1);
  });

  it('stores nothing and answers with the error when the job insert fails, though its COMMIT was already sent', async () => {
    const failingEnqueue: Enqueue = async (sql) => {
      await sql.query(`SELECT 1 / 0 AS job`);
    };
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: failingEnqueue });
    await expect(submitter.submit('anonymous', [command('p2')])).rejects.toThrow(/division by zero/);
    expect(kinds(queued).slice(0, 4)).toEqual(['BEGIN', 'commands', 'jobs', 'COMMIT']);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = 'p2'`);
    expect(rows[0]?.n).toBe(0);
  });

  it('refuses a second queue statement once COMMIT is queued', async () => {
    const twoStatements: Enqueue = async (sql) => {
      await sql.query(`SELECT 'job' AS job`);
      await sql.query(`SELECT 'job again' AS job`);
    };
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: twoStatements });
    await expect(submitter.submit('anonymous', [command('p3')])).rejects.toThrow(/second statement/);
    expect(kinds(queued)).not.toContain("SELECT 'job again' AS job");
  });

  it('sends the command insert that also writes the pg-boss job, then COMMIT, on the system submission pool', async () => {
    const system = await startTestSystem(db.url);
    try {
      queued.length = 0;
      const response = await system.app!.request('/v1/commands', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'p4', type: 'account.open', entityId: 'e-p4', payload: {} }),
      });
      expect(response.status).toBe(202);
      const flush = kinds(queued.filter((text) => text === 'BEGIN' || text === 'COMMIT' || /commands|job/i.test(text)));
      expect(flush.slice(0, 3)).toEqual(['BEGIN', 'commands', 'COMMIT']);
      expect(queued.find((text) => /insert into "oncely"\."commands"/i.test(text))).toMatch(/INSERT INTO pgboss\.\w+/);
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'oncely-commands' AND data->>'id' = 'p4'`);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await system.stop();
    }
  });
});
