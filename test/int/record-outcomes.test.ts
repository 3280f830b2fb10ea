// Recording a batch's outcomes costs the batch, not the backlog: its generic plan (the one a named prepared
// statement settles on) reads each row by the primary key, never through the in-flight index that holds the
// whole backlog. And a batch's outcomes are announced in a few notifications, one key per line, which the
// api's listener splits to wake each waiter.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandsSql, commandStatements } from '../../src/db/commands-sql.ts';
import { sqlOf } from '../../src/db/pool.ts';
import { createSettledListener, SETTLED_CHANNEL } from '../../src/db/settled-listener.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  // A backlog of 20,000 queued commands and 20,000 ended ones.
  await db.pool.query(
    `INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status)
     SELECT 'anonymous', 'r-' || g, 'account.credit', 'a-' || g, '{"amount":1}', 'f', CASE WHEN g % 2 = 0 THEN 'queued' ELSE 'succeeded' END
       FROM generate_series(1, 40000) AS g`,
  );
  await db.pool.query('VACUUM ANALYZE oncely.commands');
});
afterAll(async () => {
  await db?.drop();
});

const outcome = (id: string) => ({ clientId: 'anonymous', id, status: 'succeeded', attempts: 1, result: { balance: 1 }, error: null });

describe('recordOutcomes', () => {
  it('probes the primary key in its generic plan, whatever the backlog', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(`PREPARE record_outcomes AS ${commandStatements('oncely').recordOutcomes}`);
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (COSTS OFF) EXECUTE record_outcomes('{anonymous,anonymous}', '{r-2,r-4}', '{succeeded,succeeded}', '{1,1}', '{"{}","{}"}', '{NULL,NULL}')`,
      );
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(plan).toContain('commands_client_id_id_pk');
      expect(plan).not.toContain('commands_in_flight_idx');
      expect(plan).not.toMatch(/Seq Scan on commands/);
    } finally {
      client.release();
    }
  });

  it('records only commands in flight and announces every key it settled, many to a notification', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query(`LISTEN ${SETTLED_CHANNEL}`);
    try {
      // 400 queued commands, and one ended command that must stay as it is.
      const ids = Array.from({ length: 400 }, (_, i) => `r-${2 * (i + 1)}`);
      const recorded = await commandsSql('oncely').recordOutcomes(sqlOf(db.pool), [...ids, 'r-1'].map(outcome));
      expect(recorded).toBe(400);
      await expect.poll(() => payloads.flatMap((p) => p.split('\n')).length, { timeout: 5000 }).toBe(400);
      expect(payloads.flatMap((p) => p.split('\n')).sort()).toEqual(ids.map((id) => `anonymous ${id}`).sort());
      expect(payloads.length).toBeLessThan(10);
      for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThan(8000);
    } finally {
      await listener.end();
    }
  });

  it('wakes each waiter of a batch announced in one notification', async () => {
    const listener = createSettledListener({ connectionString: db.url, onError: () => {} });
    try {
      const ids = ['r-1002', 'r-1004', 'r-1006'];
      const subscriptions = ids.map((id) => listener.subscribe('anonymous', id));
      // Listening before the outcomes are recorded: the listener connects on its own, so wait until it does.
      await expect
        .poll(
          async () =>
            (
              await db.pool.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'oncely-listener' AND query ILIKE 'LISTEN%'`,
              )
            ).rows[0]?.n,
          { timeout: 5000 },
        )
        .toBe(1);
      const woken = subscriptions.map((s) => s.next(10_000).then(() => Date.now()));
      const started = Date.now();
      await commandsSql('oncely').recordOutcomes(sqlOf(db.pool), ids.map(outcome));
      for (const at of await Promise.all(woken)) expect(at - started).toBeLessThan(5000);
      for (const s of subscriptions) s.close();
    } finally {
      await listener.stop();
    }
  });
});
