// With the real queue, a submission flush writes its command rows and their pg-boss jobs in one statement
// (BEGIN, that statement and COMMIT leave in one socket write). The jobs are pg-boss's own (its insert text,
// its queue's policy), carry only the commands this flush inserted, keep one entity's commands in the order
// given, and a duplicate gets no second job.
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import { createGroupSubmitter } from '../../src/processor/submit.ts';
import { queueNames, startQueue, type CommandQueue } from '../../src/queue/boss.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;
let pool: pg.Pool;
let queue: CommandQueue;
let writes = 0;

type CountedSocket = Duplex & { _write: (...args: unknown[]) => void; _writev?: (...args: unknown[]) => void };

beforeAll(async () => {
  db = await createTestDatabase();
  queue = await startQueue({
    connectionString: db.url,
    maxAttempts: 5,
    expireSeconds: 15,
    superviseIntervalSeconds: 60,
    supervise: false,
    poolSize: 2,
    applicationName: 'test-one-statement',
    onError: () => {},
  });
  pool = createPool({ connectionString: db.url, max: 1, applicationName: 'test-one-statement', onError: () => {}, pipeline: true });
  pool.on('connect', (client) => {
    const socket = (client as unknown as { connection: { stream: CountedSocket } }).connection.stream;
    const write = socket._write.bind(socket);
    socket._write = (...args) => {
      writes++;
      write(...args);
    };
    const writev = socket._writev?.bind(socket);
    if (writev)
      socket._writev = (...args) => {
        writes++;
        writev(...args);
      };
  });
  const client = await pool.connect();
  client.release();
});
afterAll(async () => {
  await pool?.end();
  await queue?.stop();
  await db?.drop();
});

const command = (id: string, entityId = `e-${id}`) => ({ id, type: 'account.open', entityId, expectedVersion: undefined, payload: {} });

interface JobRow {
  data: unknown;
  state: string;
  retry_limit: number;
  expire_seconds: number;
  dead_letter: string | null;
}
const jobsOf = async (like: string) =>
  (
    await db.pool.query<JobRow>(
      `SELECT data, state, retry_limit, expire_seconds, dead_letter FROM pgboss.job
       WHERE name = $1 AND data::text LIKE $2 ORDER BY created_on, data::text`,
      [queueNames().commands, `%${like}%`],
    )
  ).rows;

describe('one statement per submission flush', () => {
  it('writes the command and its pg-boss job in one statement, sent with BEGIN and COMMIT in one write', async () => {
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: queue.enqueue });
    writes = 0;
    const [submission] = await submitter.submit('anonymous', [command('one-1')]);
    expect(submission?.outcome).toBe('accepted');
    expect(writes).toBe(1);
    const jobs = await jobsOf('one-1');
    expect(jobs).toHaveLength(1);
    // pg-boss's own defaults from the queue's row: the policy oncely set on the queue.
    expect(jobs[0]).toMatchObject({ data: { clientId: 'anonymous', id: 'one-1' }, state: 'created', expire_seconds: 15, dead_letter: queueNames().dead });
    expect(jobs[0]!.retry_limit).toBeGreaterThan(0);
  });

  it('gives a duplicate no second job, and a job carries only the commands its flush inserted, in the order given', async () => {
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: queue.enqueue });
    await submitter.submit('anonymous', [command('two-b', 'two-e')]);
    const answers = await submitter.submit('anonymous', [command('two-c', 'two-e'), command('two-b', 'two-e'), command('two-a', 'two-e')]);
    expect(answers.map((a) => a.outcome)).toEqual(['accepted', 'duplicate', 'accepted']);
    const jobs = await jobsOf('two-');
    expect(jobs.map((job) => job.data)).toEqual([
      { clientId: 'anonymous', id: 'two-b' },
      {
        commands: [
          { clientId: 'anonymous', id: 'two-c' },
          { clientId: 'anonymous', id: 'two-a' },
        ],
      },
    ]);
    const again = await submitter.submit('anonymous', [command('two-a', 'two-e'), command('two-c', 'two-e')]);
    expect(again.map((a) => a.outcome)).toEqual(['duplicate', 'duplicate']);
    expect(await jobsOf('two-')).toHaveLength(2);
  });

  it('writes no command when its job cannot be written', async () => {
    // A job insert that fails (the queue's partition is gone) must take the command rows with it.
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue: queue.enqueue });
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ table_name: string }>(`SELECT table_name FROM pgboss.queue WHERE name = $1`, [queueNames().commands]);
      // A CHECK no job row meets: the statement fails at its job insert, after its command insert.
      await client.query(`ALTER TABLE pgboss.${rows[0]!.table_name} ADD CONSTRAINT no_jobs CHECK (false) NOT VALID`);
      await client.query('COMMIT');
      await expect(submitter.submit('anonymous', [command('three-1')])).rejects.toThrow(/no_jobs/);
      const { rows: stored } = await db.pool.query(`SELECT 1 FROM oncely.commands WHERE id = 'three-1'`);
      expect(stored).toHaveLength(0);
      await client.query(`ALTER TABLE pgboss.${rows[0]!.table_name} DROP CONSTRAINT no_jobs`);
    } finally {
      client.release();
    }
  });
});
