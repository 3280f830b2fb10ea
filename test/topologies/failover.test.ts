// Guarantees 1 and 2 through a PostgreSQL failover: a primary and a streaming standby (Debian's PostgreSQL 15,
// the WAL crossing a proxy with 20 ms latency each way),
// the api and a worker as processes reaching them through a TCP proxy. Under load the primary is SIGKILLed,
// the standby promoted and the proxy moved to it. Synchronous replication: every command acknowledged before
// the kill is found after the promotion, 0 lost. Asynchronous: the commands the promotion lost are counted
// (reported, not bounded); in both modes every client retries its ids until terminal, and then every command
// is applied exactly once, money is conserved, and all is terminal within 30 s of the promotion.
import { afterAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/core/envelope.ts';
import { freePort } from '../../src/db/embedded.ts';
import { startChaosProxy, type ChaosProxy } from '../../chaos/proxy.ts';
import { startReplicatedPair, type ReplicatedPair, type ReplicationMode } from '../../chaos/replication.ts';
import { spawnEntry, waitUntil, type Child } from '../helpers/system.ts';
import pg from 'pg';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

interface Sent {
  body: { id: string; type: string; entityId: string; payload: Record<string, unknown> };
  ackedAt?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: { status?: string } } | undefined> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as { status?: string }) : {} };
  } catch {
    return undefined;
  }
}

async function failover(mode: ReplicationMode) {
  // 20 ms each way between primary and standby (two zones): the cost of a synchronous commit, and what an
  // asynchronous standby may lack when the primary dies.
  const pair: ReplicatedPair = await startReplicatedPair(mode, { replicationLatencyMs: 20 });
  cleanups.push(() => pair.stop());
  const admin = new pg.Client({ connectionString: pair.urlOf(pair.primaryPort) });
  await admin.connect();
  await admin.query('CREATE DATABASE oncely_failover');
  await admin.end();
  const proxy: ChaosProxy = await startChaosProxy({ targetPort: pair.primaryPort });
  cleanups.push(() => proxy.close());
  const url = `postgres://postgres@127.0.0.1:${proxy.port}/oncely_failover`;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const children: Child[] = [spawnEntry('api', { DATABASE_URL: url, PORT: String(port) })];
  cleanups.push(() => Promise.all(children.map((child) => child.kill('SIGKILL'))));
  await waitUntil(
    () => request(`${base}/health/ready`).then((r) => r?.status),
    (s) => s === 200,
    60_000,
    'the api to be ready',
  );
  children.push(spawnEntry('worker', { DATABASE_URL: url, WORKER_CONCURRENCY: '4' }));

  const post = (body: object, prefer?: string) =>
    request(`${base}/v1/commands`, { method: 'POST', headers: { 'content-type': 'application/json', ...(prefer ? { prefer } : {}) }, body: JSON.stringify(body) });
  const accounts = ['a', 'b', 'c', 'd'];
  for (const id of accounts) expect((await post({ id: `open-${id}`, type: 'account.open', entityId: id, payload: {} }, 'wait=20'))?.status).toBe(200);
  for (const id of accounts) expect((await post({ id: `seed-${id}`, type: 'account.credit', entityId: id, payload: { amount: 100_000 } }, 'wait=20'))?.status).toBe(200);

  // Clients send commands one after another, each POSTed again until acknowledged (200/202).
  const sent: Sent[] = [];
  let killedAt = 0;
  let sending = true;
  const clients = Array.from({ length: 6 }, async (_, c) => {
    for (let n = 0; sending; n++) {
      const from = accounts[(c + n) % 4]!;
      const to = accounts[(c + n + 1 + (n % 3)) % 4]!;
      const body =
        n % 3 === 0
          ? { id: `f-${c}-${n}`, type: 'account.credit', entityId: from, payload: { amount: 1 + (n % 50) } }
          : { id: `f-${c}-${n}`, type: 'account.transfer', entityId: from, payload: { to, amount: 1 + (n % 70) } };
      const record: Sent = { body };
      sent.push(record);
      for (let attempt = 0; attempt < 600; attempt++) {
        const answer = await post(body);
        if (answer && (answer.status === 200 || answer.status === 202)) {
          record.ackedAt = Date.now();
          break;
        }
        await sleep(100);
      }
    }
  });

  const loadStarted = Date.now();
  await sleep(3000);
  killedAt = Date.now();
  const ackedBeforeKill = sent.filter((s) => s.ackedAt !== undefined && s.ackedAt < killedAt).length;
  await pair.killPrimary();
  const promoteStarted = Date.now();
  await pair.promote();
  proxy.retarget(pair.standbyPort);
  const promotedAt = Date.now();

  // Lost: acknowledged before the kill, absent from the promoted standby.
  const direct = new pg.Client({ connectionString: pair.urlOf(pair.standbyPort, 'oncely_failover') });
  await direct.connect();
  cleanups.push(() => direct.end());
  const acked = sent.filter((s) => s.ackedAt !== undefined && s.ackedAt < killedAt).map((s) => s.body.id);
  const { rows: found } = await direct.query<{ id: string }>(`SELECT id FROM oncely.commands WHERE id = ANY($1::text[])`, [acked]);
  const lost = acked.length - found.length;

  await sleep(2000);
  sending = false;
  await Promise.all(clients);

  // Every client keeps retrying its ids until it sees a terminal outcome: a command the promotion lost
  // (404) is submitted again, under the same id.
  const resubmitted = new Set<string>();
  const queue = sent.map((s) => s.body);
  const settle = async (body: Sent['body']) => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answer = await request(`${base}/v1/commands/${body.id}`, { headers: { prefer: 'wait=5' } });
      if (answer?.status === 200 && isTerminal(answer.body.status as never)) return;
      if (answer?.status === 404) {
        resubmitted.add(body.id);
        await post(body);
      } else if (!answer || answer.status >= 500) await sleep(200);
    }
  };
  // Twenty clients at a time, each taking the next id.
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let body = queue.shift(); body; body = queue.shift()) await settle(body);
    }),
  );
  const allTerminalAt = Date.now();

  const { rows: statuses } = await direct.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM oncely.commands WHERE id LIKE 'f-%' GROUP BY 1`);
  const stored = statuses.reduce((sum, row) => sum + row.n, 0);
  const open = statuses.filter((row) => !isTerminal(row.status as never)).reduce((sum, row) => sum + row.n, 0);
  const { rows: doubled } = await direct.query(`
    SELECT c.id FROM oncely.commands c LEFT JOIN ledger_entries l ON l.client_id = c.client_id AND l.command_id = c.id
    WHERE c.type <> 'account.open' GROUP BY c.client_id, c.id, c.type, c.status
    HAVING count(l.seq) <> CASE WHEN c.status <> 'succeeded' THEN 0 WHEN c.type = 'account.transfer' THEN 2 ELSE 1 END`);
  const { rows: drift } = await direct.query(`
    SELECT a.id FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
    GROUP BY a.id HAVING a.balance <> coalesce(sum(l.amount), 0) OR a.version <> 1 + count(l.seq)`);
  const { rows: money } = await direct.query<{ total: number; expected: number }>(`
    SELECT (SELECT sum(balance)::int FROM accounts) AS total,
           (SELECT coalesce(sum((c.payload->>'amount')::int), 0)::int FROM oncely.commands c WHERE c.status = 'succeeded' AND c.type = 'account.credit') AS expected`);
  const figure = {
    mode,
    sent: sent.length,
    ackedBeforeKill,
    acksPerSecond: Math.round(ackedBeforeKill / ((killedAt - loadStarted) / 1000)),
    lost,
    resubmitted: resubmitted.size,
    stored,
    open,
    doubled: doubled.length,
    drift: drift.length,
    moneyConserved: money[0]?.total === money[0]?.expected,
    promoteMs: promotedAt - promoteStarted,
    terminalWithinMsOfPromotion: allTerminalAt - promotedAt,
  };
  console.log(`failover figure: ${JSON.stringify(figure)}`);
  return figure;
}

describe('failover to a promoted standby', () => {
  it('synchronous replication: every command acknowledged before the kill survives; all applied once, terminal within 30 s', async () => {
    const figure = await failover('synchronous');
    expect(figure.ackedBeforeKill).toBeGreaterThan(10);
    expect(figure.lost).toBe(0);
    expect(figure.stored).toBe(figure.sent);
    expect(figure.open).toBe(0);
    expect(figure.doubled).toBe(0);
    expect(figure.drift).toBe(0);
    expect(figure.moneyConserved).toBe(true);
    expect(figure.terminalWithinMsOfPromotion).toBeLessThan(30_000);
  });

  it('asynchronous replication: lost acknowledgements are counted; clients retrying their ids get each applied once', async () => {
    const figure = await failover('asynchronous');
    expect(figure.ackedBeforeKill).toBeGreaterThan(10);
    expect(figure.lost).toBeGreaterThanOrEqual(0);
    expect(figure.resubmitted).toBeGreaterThanOrEqual(figure.lost);
    expect(figure.stored).toBe(figure.sent);
    expect(figure.open).toBe(0);
    expect(figure.doubled).toBe(0);
    expect(figure.drift).toBe(0);
    expect(figure.moneyConserved).toBe(true);
    expect(figure.terminalWithinMsOfPromotion).toBeLessThan(30_000);
  });
});
