// A submission flush leaves in two socket writes: BEGIN with the command insert, the job insert with COMMIT.
// On loopback TCP every write is a system call that wakes the server, so writes are CPU per command
// (docs/performance.md). Counted at the socket (net.Socket's _write/_writev, one call per write it hands the
// kernel), for a queue adapter that sends at once and for one that waits before sending, as pg-boss does.
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.ts';
import type { Enqueue } from '../../src/processor/ports.ts';
import { createGroupSubmitter } from '../../src/processor/submit.ts';
import { useTestDatabase } from '../helpers/fixture.ts';

const db = useTestDatabase();
let pool: pg.Pool;
let writes = 0;

type CountedSocket = Duplex & { _write: (...args: unknown[]) => void; _writev?: (...args: unknown[]) => void };

beforeAll(async () => {
  pool = createPool({ connectionString: db.url, max: 1, applicationName: 'test-submit-writes', onError: () => {}, pipeline: true });
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
  // Connect (and set the session up) before counting.
  const client = await pool.connect();
  client.release();
});
afterAll(async () => {
  await pool?.end();
});

const command = (id: string) => ({ id, type: 'account.open', entityId: `e-${id}`, expectedVersion: undefined, payload: {} });

describe('submission flush writes', () => {
  it.each([
    ['sends at once', (async (sql) => void (await sql.query(`SELECT 'job' AS job`))) satisfies Enqueue],
    [
      'waits before sending',
      (async (sql) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await sql.query(`SELECT 'job' AS job`);
      }) satisfies Enqueue,
    ],
  ])('goes out in two writes when the queue adapter %s, and stores the command', async (_label, enqueue) => {
    const submitter = createGroupSubmitter({ pool, schema: 'oncely', enqueue });
    const id = `w-${writes}-${Date.now()}`;
    writes = 0;
    const [submission] = await submitter.submit('anonymous', [command(id)]);
    expect(submission?.outcome).toBe('accepted');
    expect(writes).toBe(2);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = $1`, [id]);
    expect(rows[0]?.n).toBe(1);
  });
});
