// Guarantees 1, 2 and 4 behind a real PgBouncer in transaction pooling mode (Debian's 1.18, no protocol-level
// prepared statements): api and worker processes with DATABASE_URL at the pooler and DATABASE_DIRECT_URL at
// PostgreSQL. Duplicates sent at once, one hot account, transfers crossing, Prefer: wait (the LISTEN on the
// direct connection), a worker SIGKILL and killed server sessions (retries), the reconciler and retention
// (transaction-scoped advisory locks through the pooler): none lost, none doubled, all terminal, money conserved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, poolerOf } from '../../src/config.ts';
import { freePort } from '../../src/db/embedded.ts';
import { startPgBouncer, type PgBouncer } from '../../chaos/pgbouncer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { spawnEntry, waitForAllTerminal, waitForTerminal, waitUntil, type Child } from '../helpers/system.ts';

let db: TestDatabase;
let bouncer: PgBouncer;
let pooled: string;
let base: string;
const everything: Child[] = [];

const env = () => ({ DATABASE_URL: pooled, DATABASE_DIRECT_URL: db.url, DATABASE_POOLER: 'transaction' });
const spawnWorker = (extra: Record<string, string> = {}) => {
  const child = spawnEntry('worker', { ...env(), WORKER_CONCURRENCY: '4', WORKER_BATCH_SIZE: '10', ...extra });
  everything.push(child);
  return child;
};

async function post(body: object, headers: Record<string, string> = {}): Promise<{ status: number; body: { status?: string } }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${base}/v1/commands`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { status?: string } };
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function random(seed: number) {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

beforeAll(async () => {
  db = await createTestDatabase();
  bouncer = await startPgBouncer({ target: db.url, poolSize: 20 });
  pooled = bouncer.urlFor(db.url);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  everything.push(spawnEntry('api', { ...env(), PORT: String(port) }));
  await waitUntil(
    () =>
      fetch(`${base}/health/ready`).then(
        (r) => r.status,
        () => 0,
      ),
    (s) => s === 200,
    30_000,
    'the api to be ready behind PgBouncer',
  );
});
afterAll(async () => {
  await Promise.all(everything.map((child) => child.kill('SIGKILL')));
  await bouncer?.stop();
  await db?.drop();
});

describe('DATABASE_POOLER', () => {
  it('is transaction when a different DATABASE_DIRECT_URL is given, and refuses transaction without one', () => {
    const url = 'postgres://u@pooler:6432/db';
    expect(poolerOf(parseConfig({ DATABASE_URL: url }), url)).toBe('none');
    expect(poolerOf(parseConfig({ DATABASE_URL: url, DATABASE_DIRECT_URL: 'postgres://u@db:5432/db' }), url)).toBe('transaction');
    expect(poolerOf(parseConfig({ DATABASE_URL: url, DATABASE_DIRECT_URL: url }), url)).toBe('none');
    expect(() => parseConfig({ DATABASE_URL: url, DATABASE_POOLER: 'transaction' })).toThrow(ConfigError);
    expect(() => parseConfig({ DATABASE_URL: url, DATABASE_POOLER: 'transaction' })).toThrow(/DATABASE_DIRECT_URL/);
    expect(() => parseConfig({ DATABASE_POOLER: 'session' })).toThrow(/DATABASE_POOLER/);
  });
});

describe('behind PgBouncer in transaction pooling mode', () => {
  it('refuses to start with DATABASE_URL at the pooler and no DATABASE_DIRECT_URL, saying what to set', async () => {
    const alone = spawnEntry('api', { DATABASE_URL: pooled, PORT: String(await freePort()) });
    everything.push(alone);
    const code = await Promise.race([alone.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 30_000))]);
    expect(code).toBe(1);
    expect(alone.output()).toMatch(/looks like a transaction-pooling pooler.*DATABASE_DIRECT_URL/);
  });

  it('applies duplicated, contended commands exactly once through worker kills and killed server sessions', async () => {
    const workers = [spawnWorker(), spawnWorker()];
    const next = random(21);
    const accounts = ['hot', 'b', 'c', 'd'];
    // Prefer: wait answers with the outcome: the settled notification reached the api on its direct LISTEN.
    for (const id of accounts) {
      const opened = await post({ id: `open-${id}`, type: 'account.open', entityId: id, payload: {} }, { prefer: 'wait=20' });
      expect(opened.status).toBe(200);
      expect(opened.body.status).toBe('succeeded');
    }
    for (const id of accounts) expect((await post({ id: `seed-${id}`, type: 'account.credit', entityId: id, payload: { amount: 10_000 } })).status).toBe(202);

    const bodies: object[] = [];
    for (let i = 0; i < 300; i++) {
      const amount = 1 + Math.floor(next() * 400);
      const other = accounts[1 + Math.floor(next() * 3)]!;
      const kind = next();
      // Half on the hot account; transfers in both directions between it and the others cross each other.
      bodies.push(
        kind < 0.2
          ? { id: `p-${i}`, type: 'account.credit', entityId: next() < 0.5 ? 'hot' : other, payload: { amount } }
          : kind < 0.4
            ? { id: `p-${i}`, type: 'account.debit', entityId: next() < 0.5 ? 'hot' : other, payload: { amount } }
            : kind < 0.7
              ? { id: `p-${i}`, type: 'account.transfer', entityId: 'hot', payload: { to: other, amount } }
              : { id: `p-${i}`, type: 'account.transfer', entityId: other, payload: { to: 'hot', amount } },
      );
    }

    let faults = 0;
    const statuses: number[] = [];
    for (let i = 0; i < bodies.length; i += 30) {
      // Every command three times at once, as retrying clients (or a retrying proxy) would send it.
      const sends = bodies.slice(i, i + 30).flatMap((body) => [body, body, body]);
      statuses.push(...(await Promise.all(sends.map((body) => post(body).then((r) => r.status)))));
      if (i === 90) {
        // A worker dies with its batch: its jobs expire and are taken over (a retry through the pooler).
        await workers[0]!.kill('SIGKILL');
        workers.push(spawnWorker());
        faults++;
      }
      if (i === 180) {
        // PostgreSQL ends every server session PgBouncer holds: the pooled transactions in flight fail and are retried.
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        );
        faults += rows[0]?.n ? 1 : 0;
      }
    }
    expect(faults).toBe(2);
    // A request that met a killed session may be answered 503 (retry); the ids are sent again until accepted.
    for (const [i, body] of bodies.entries()) {
      if (statuses.slice(i * 3, i * 3 + 3).some((s) => s === 200 || s === 202)) continue;
      await waitUntil(
        () => post(body).then((r) => r.status),
        (s) => s === 200 || s === 202,
        30_000,
        'a resubmission to be accepted',
      );
    }
    expect(statuses.every((s) => s === 200 || s === 202 || s === 503)).toBe(true);

    await waitForAllTerminal(db.pool, 90_000);
    const counts = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id LIKE 'p-%'`);
    expect(counts.rows[0]?.n).toBe(300);
    const notDone = await db.pool.query(`SELECT id, status, error FROM oncely.commands WHERE status NOT IN ('succeeded', 'rejected')`);
    expect(notDone.rows).toEqual([]);

    // Balances equal their ledgers; each succeeded command moved money as often as its type says, the others never.
    const drift = await db.pool.query(`
      SELECT a.id FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
      GROUP BY a.id HAVING a.balance <> coalesce(sum(l.amount), 0) OR a.version <> 1 + count(l.seq)`);
    expect(drift.rows).toEqual([]);
    const effects = await db.pool.query(`
      SELECT c.id FROM oncely.commands c LEFT JOIN ledger_entries l ON l.client_id = c.client_id AND l.command_id = c.id
      WHERE c.type <> 'account.open' GROUP BY c.client_id, c.id, c.type, c.status
      HAVING count(l.seq) <> CASE WHEN c.status <> 'succeeded' THEN 0 WHEN c.type = 'account.transfer' THEN 2 ELSE 1 END`);
    expect(effects.rows).toEqual([]);
    // Money conserved: the total is the seeds plus succeeded credits minus succeeded debits (transfers move, never make).
    const { rows: money } = await db.pool.query<{ total: number; expected: number }>(`
      SELECT (SELECT sum(balance)::int FROM accounts) AS total,
             (SELECT coalesce(sum(CASE c.type WHEN 'account.credit' THEN (c.payload->>'amount')::int ELSE -(c.payload->>'amount')::int END), 0)::int
              FROM oncely.commands c WHERE c.status = 'succeeded' AND c.type IN ('account.credit', 'account.debit')) AS expected`);
    expect(money[0]!.total).toBe(money[0]!.expected);
    expect(money[0]!.total).toBeGreaterThan(0);
    for (const worker of workers) await worker.kill('SIGKILL');
  });

  it('requeues commands whose job vanished (reconciler) and purges ended ones past COMMAND_RETENTION (retention)', async () => {
    // No worker runs: the commands stay queued while their jobs are deleted.
    for (let i = 0; i < 5; i++) expect((await post({ id: `r-${i}`, type: 'account.credit', entityId: 'b', payload: { amount: 7 } })).status).toBe(202);
    const deleted = await db.pool.query(
      `DELETE FROM pgboss.job AS j WHERE j.name = 'oncely-commands' AND EXISTS (
         SELECT 1 FROM jsonb_array_elements(CASE WHEN j.data ? 'commands' THEN j.data->'commands' ELSE jsonb_build_array(j.data) END) AS ref
         WHERE ref->>'id' LIKE 'r-%')`,
    );
    expect(deleted.rowCount).toBeGreaterThan(0);
    await db.pool.query(
      `INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status, completed_at)
       SELECT 'old', 'old-' || i, 'account.credit', 'nobody', '{"amount":1}', 'by-hand', 'succeeded', now() - interval '3 days'
       FROM generate_series(1, 2500) AS i`,
    );
    spawnWorker({ JOB_EXPIRE_SECONDS: '2', RECONCILE_INTERVAL_SECONDS: '1', COMMAND_RETENTION: '1d', RETENTION_INTERVAL_SECONDS: '1' });
    for (let i = 0; i < 5; i++) expect((await waitForTerminal(db.pool, `r-${i}`, 60_000)).status).toBe('succeeded');
    const { rows: once } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE command_id LIKE 'r-%'`);
    expect(once[0]?.n).toBe(5);
    await waitUntil(
      async () => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE client_id = 'old'`)).rows[0]?.n,
      (n) => n === 0,
      60_000,
      'the old ended commands to be purged',
    );
    const { rows: kept } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id LIKE 'p-%'`);
    expect(kept[0]?.n).toBe(300);
  });
});
