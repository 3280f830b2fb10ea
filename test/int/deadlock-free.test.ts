// Deadlock-free by construction: batches lock command rows, then red packets, orders and accounts, each
// table in key order. A burst of crossing transfers, credits, debits, order payments and cancellations and
// racing red packet issues over 30 accounts, applied by two workers with large batches and one with
// batches of one, must not produce a single deadlock (pg_stat_database.deadlocks does not move) nor a
// single retry, and must leave every account equal to its ledger.
import { beforeAll, describe, expect, it } from 'vitest';
import type { NewCommand } from '../../src/processor/submit.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem, waitForAllTerminal } from '../helpers/system.ts';

const db = useTestDatabase();
const systems: System[] = [];

const ACCOUNTS = 30;
const ORDERS = 60;

beforeAll(async () => {
  systems.push(await startTestSystem(db.url, { env: { WORKER_CONCURRENCY: '4', WORKER_BATCH_SIZE: '50' } }));
  systems.push(await startTestSystem(db.url, { roles: { api: false, worker: true }, env: { WORKER_CONCURRENCY: '4', WORKER_BATCH_SIZE: '50' } }));
  systems.push(await startTestSystem(db.url, { roles: { api: false, worker: true }, env: { WORKER_CONCURRENCY: '4', WORKER_BATCH_SIZE: '1' } }));
});

const command = (id: string, type: string, entityId: string, payload: object): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });
const account = (i: number) => `dl-${i % ACCOUNTS}`;

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
}

/** Submits every command at once, one submission each: an open-loop burst, not a paced client. */
async function burst(commands: readonly NewCommand[]): Promise<void> {
  const api = systems[0]!;
  await Promise.all(commands.map((c) => api.commands.submit('anonymous', [c])));
}

async function deadlocks(): Promise<number> {
  // Statistics reach pg_stat_database within a second of the transaction that counted them.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const { rows } = await db.pool.query<{ n: number }>(`SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()`);
  return rows[0]?.n ?? -1;
}

describe('deadlock-free', () => {
  it('applies a burst of crossing reference commands with no deadlock, no retry, and money equal to the ledger', async () => {
    const before = await deadlocks();
    const next = random(20261201);
    await burst(Array.from({ length: ACCOUNTS }, (_, i) => command(`dl-open-${i}`, 'account.open', account(i), {})));
    await waitForAllTerminal(db.pool);
    await burst(Array.from({ length: ACCOUNTS }, (_, i) => command(`dl-fund-${i}`, 'account.credit', account(i), { amount: 1_000_000 })));
    await burst(Array.from({ length: ORDERS }, (_, i) => command(`dl-order-${i}`, 'order.create', `dl-o-${i}`, { accountId: account(next(ACCOUNTS)), amount: 100 + i })));
    await waitForAllTerminal(db.pool);

    const mixed: NewCommand[] = [];
    for (let i = 0; i < 900; i++) {
      const from = next(ACCOUNTS);
      const to = (from + 1 + next(ACCOUNTS - 1)) % ACCOUNTS;
      mixed.push(command(`dl-t-${i}`, 'account.transfer', account(from), { to: account(to), amount: 1 + next(50) }));
      if (i % 6 === 0) mixed.push(command(`dl-c-${i}`, 'account.credit', account(to), { amount: 7 }));
      if (i % 6 === 3) mixed.push(command(`dl-d-${i}`, 'account.debit', account(from), { amount: 5 }));
    }
    for (let o = 0; o < ORDERS; o++) {
      const at = next(mixed.length);
      mixed.splice(at, 0, command(`dl-pay-${o}`, 'order.pay', `dl-o-${o}`, {}));
      // Two racing issues for one order: one wins, the other is refused naming it.
      mixed.splice(
        next(mixed.length),
        0,
        command(`dl-rp-a-${o}`, 'redPacket.issue', `dl-rp-a-${o}`, { orderId: `dl-o-${o}`, accountId: account(next(ACCOUNTS)), amount: 20 }),
      );
      mixed.splice(
        next(mixed.length),
        0,
        command(`dl-rp-b-${o}`, 'redPacket.issue', `dl-rp-b-${o}`, { orderId: `dl-o-${o}`, accountId: account(next(ACCOUNTS)), amount: 30 }),
      );
      if (o % 3 === 0) mixed.push(command(`dl-cancel-${o}`, 'order.cancel', `dl-o-${o}`, {}));
    }
    await burst(mixed);
    await waitForAllTerminal(db.pool, 120_000);
    const payRedPackets = Array.from({ length: ORDERS }, (_, o) => [
      command(`dl-rp-pay-a-${o}`, 'redPacket.pay', `dl-rp-a-${o}`, {}),
      command(`dl-rp-pay-b-${o}`, 'redPacket.pay', `dl-rp-b-${o}`, {}),
      command(`dl-t2-${o}`, 'account.transfer', account(o), { to: account(o + 7), amount: 3 }),
    ]).flat();
    await burst(payRedPackets);
    await waitForAllTerminal(db.pool, 120_000);

    expect(await deadlocks()).toBe(before);
    const { rows: outcomes } = await db.pool.query<{ status: string; attempts: number }>(
      `SELECT status, max(attempts)::int AS attempts FROM oncely.commands GROUP BY status`,
    );
    // Contention is not a failure: nobody was retried, nothing died.
    for (const row of outcomes) {
      expect(['succeeded', 'rejected']).toContain(row.status);
      expect(row.attempts).toBe(1);
    }
    const { rows: succeeded } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE status = 'succeeded' AND id LIKE 'dl-t-%'`);
    expect(succeeded[0]!.n).toBeGreaterThan(800);

    // Each account equals its ledger; each ledger row's balance_after is the running sum in commit order.
    const { rows: accounts } = await db.pool.query<{ id: string; balance: number; ledger: number }>(
      `SELECT a.id, a.balance::bigint::float8 AS balance, coalesce(sum(l.amount), 0)::float8 AS ledger
       FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id GROUP BY a.id`,
    );
    expect(accounts).toHaveLength(ACCOUNTS);
    for (const row of accounts) expect(row.balance).toBe(row.ledger);
    const { rows: drift } = await db.pool.query(
      `SELECT account_id FROM (SELECT account_id, balance_after, sum(amount) OVER (PARTITION BY account_id ORDER BY seq) AS running FROM ledger_entries) l
       WHERE balance_after <> running`,
    );
    expect(drift).toEqual([]);
    // Transfers move money, never make it; every order has at most one live red packet; a paid order was
    // debited exactly once and a cancelled paid order refunded exactly once.
    const { rows: transfers } = await db.pool.query(
      `SELECT command_id FROM ledger_entries WHERE command_id LIKE 'dl-t%' GROUP BY command_id HAVING sum(amount) <> 0 OR count(*) <> 2`,
    );
    expect(transfers).toEqual([]);
    const { rows: live } = await db.pool.query(`SELECT order_id FROM red_packets WHERE status <> 'CANCELLED' GROUP BY order_id HAVING count(*) > 1`);
    expect(live).toEqual([]);
    const { rows: issued } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM red_packets`);
    expect(issued[0]!.n).toBeGreaterThan(0);
    const { rows: orders } = await db.pool.query<{ id: string; status: string; pays: number; refunds: number }>(
      `SELECT o.id, o.status,
              count(*) FILTER (WHERE l.command_id LIKE 'dl-pay-%')::int AS pays,
              count(*) FILTER (WHERE l.command_id LIKE 'dl-cancel-%')::int AS refunds
       FROM orders o LEFT JOIN ledger_entries l ON l.command_id IN ('dl-pay-' || substr(o.id, 6), 'dl-cancel-' || substr(o.id, 6))
       GROUP BY o.id, o.status`,
    );
    expect(orders).toHaveLength(ORDERS);
    for (const order of orders) {
      expect(order.pays).toBeLessThanOrEqual(1);
      if (order.status === 'PAID') expect(order).toMatchObject({ pays: 1, refunds: 0 });
      if (order.status === 'CANCELLED') expect(order.refunds).toBe(order.pays);
    }
  }, 300_000);
});
