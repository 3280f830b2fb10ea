// Guarantees 1, 2 and 4 end to end: separate api and worker processes, workers SIGKILLed while commands
// flow; afterwards every accepted command has ended, balances equal their ledgers, nothing applied twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { spawnEntry, waitForAllTerminal, waitUntil, type Child } from '../helpers/system.ts';

const db = useTestDatabase();
let api: Child;
let base: string;
const workers: Child[] = [];
const everything: Child[] = [];

const spawnWorker = () => {
  const child = spawnEntry('worker', { DATABASE_URL: db.url, WORKER_BATCH_SIZE: '10', WORKER_CONCURRENCY: '2' });
  workers.push(child);
  everything.push(child);
  return child;
};

async function submit(body: object): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${base}/v1/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.arrayBuffer();
      return res.status;
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

// A tiny deterministic generator, so a failure can be replayed.
function random(seed: number) {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  api = spawnEntry('api', { DATABASE_URL: db.url, PORT: String(port) });
  everything.push(api);
  await waitUntil(
    () =>
      fetch(`${base}/health/ready`).then(
        (r) => r.status,
        () => 0,
      ),
    (s) => s === 200,
    30_000,
    'the api to be ready',
  );
  for (let i = 0; i < 3; i++) spawnWorker();
});
afterAll(async () => {
  await Promise.all(everything.map((child) => child.kill('SIGKILL')));
});

describe('worker-kill', () => {
  it('ends every accepted command exactly once while worker processes are killed', async () => {
    const next = random(42);
    const accounts = Array.from({ length: 8 }, (_, i) => `wk-${i}`);
    for (const id of accounts) expect(await submit({ id: `open-${id}`, type: 'account.open', entityId: id, payload: {} })).toBe(202);
    for (const id of accounts) expect(await submit({ id: `seed-${id}`, type: 'account.credit', entityId: id, payload: { amount: 5_000 } })).toBe(202);

    const bodies: object[] = [];
    for (let i = 0; i < 400; i++) {
      const from = accounts[Math.floor(next() * accounts.length)]!;
      const to = accounts[Math.floor(next() * accounts.length)]!;
      const amount = 1 + Math.floor(next() * 300);
      const kind = next();
      bodies.push(
        kind < 0.35
          ? { id: `c-${i}`, type: 'account.credit', entityId: from, payload: { amount } }
          : kind < 0.6
            ? { id: `c-${i}`, type: 'account.debit', entityId: from, payload: { amount } }
            : { id: `c-${i}`, type: 'account.transfer', entityId: from, payload: { to, amount } },
      );
    }

    let kills = 0;
    let flowing = true;
    const nemesis = (async () => {
      while (flowing && kills < 6) {
        await new Promise((resolve) => setTimeout(resolve, 700));
        const alive = workers.filter((w) => w.process.exitCode === null && w.process.signalCode === null);
        const victim = alive[Math.floor(next() * alive.length)];
        if (victim) {
          await victim.kill('SIGKILL');
          kills++;
        }
        spawnWorker();
      }
    })();

    const statuses: number[] = [];
    for (let i = 0; i < bodies.length; i += 20) {
      const chunk = bodies.slice(i, i + 20);
      // A third of the commands are sent twice at once, as a retrying client would.
      const sends = chunk.flatMap((body, j) => (j % 3 === 0 ? [body, body] : [body]));
      statuses.push(...(await Promise.all(sends.map(submit))));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    flowing = false;
    await nemesis;
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(statuses.every((s) => s === 200 || s === 202)).toBe(true);

    await waitForAllTerminal(db.pool, 90_000);
    const counts = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id LIKE 'c-%'`);
    expect(counts.rows[0]?.n).toBe(400);
    const notDone = await db.pool.query(`SELECT id, status, attempts, error FROM oncely.commands WHERE status NOT IN ('succeeded', 'rejected', 'conflict')`);
    expect(notDone.rows).toEqual([]);

    // Balances equal their ledgers, and each ledger row bumped the version once.
    const drift = await db.pool.query(`
      SELECT a.id, a.balance, a.version, coalesce(sum(l.amount), 0) AS ledger, count(l.seq) AS rows
      FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
      GROUP BY a.id HAVING a.balance <> coalesce(sum(l.amount), 0) OR a.version <> 1 + count(l.seq)`);
    expect(drift.rows).toEqual([]);

    // Each succeeded command moved money exactly as often as its type says; the others not at all.
    const effects = await db.pool.query(`
      SELECT c.id, c.type, c.status, count(l.seq)::int AS rows
      FROM oncely.commands c LEFT JOIN ledger_entries l ON l.client_id = c.client_id AND l.command_id = c.id
      WHERE c.type <> 'account.open'
      GROUP BY c.client_id, c.id, c.type, c.status
      HAVING count(l.seq) <> CASE WHEN c.status <> 'succeeded' THEN 0 WHEN c.type = 'account.transfer' THEN 2 ELSE 1 END`);
    expect(effects.rows).toEqual([]);
    const orphans = await db.pool.query<{ n: number }>(`
      SELECT count(*)::int AS n FROM ledger_entries l
      WHERE NOT EXISTS (SELECT 1 FROM oncely.commands c WHERE c.client_id = l.client_id AND c.id = l.command_id AND c.status = 'succeeded')`);
    expect(orphans.rows[0]?.n).toBe(0);
  });
});
