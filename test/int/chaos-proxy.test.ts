// The chaos proxy's faults do what the chaos run relies on: a cut COMMIT commits on the server while the
// client only sees its connection die; a reset ends a session; latency delays every round trip.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChaosProxy, type ChaosProxy } from '../../chaos/proxy.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { waitUntil } from '../helpers/system.ts';

const db = useTestDatabase();
let proxy: ChaosProxy;
const clients: pg.Client[] = [];

const throughProxy = async () => {
  const url = new URL(db.url);
  url.host = `127.0.0.1:${proxy.port}`;
  const client = new pg.Client({ connectionString: url.toString() });
  client.on('error', () => {});
  clients.push(client);
  await client.connect();
  return client;
};

beforeAll(async () => {
  await db.pool.query('CREATE TABLE chaos_probe (id text PRIMARY KEY)');
  proxy = await startChaosProxy({ targetPort: Number(new URL(db.url).port), targetHost: new URL(db.url).hostname });
});
afterAll(async () => {
  for (const client of clients) await client.end().catch(() => {});
  await proxy?.close();
});

describe('chaos proxy', () => {
  it('forwards a session unchanged when no fault is armed', async () => {
    const client = await throughProxy();
    const { rows } = await client.query<{ n: number }>('SELECT $1::int + 1 AS n', [41]);
    expect(rows[0]?.n).toBe(42);
    expect(proxy.stats().commitCuts).toBe(0);
  });

  it('cuts the connection right after forwarding a COMMIT: the client gets an error, the server committed', async () => {
    const client = await throughProxy();
    await client.query('BEGIN');
    await client.query(`INSERT INTO chaos_probe (id) VALUES ('cut-1')`);
    proxy.armCommitCuts(1);
    await expect(client.query('COMMIT')).rejects.toThrow();
    expect(proxy.stats().commitCuts).toBe(1);
    expect(proxy.pendingCommitCuts()).toBe(0);
    // The server ran the COMMIT before the proxy let its side go.
    await waitUntil(
      () => db.pool.query(`SELECT id FROM chaos_probe WHERE id = 'cut-1'`),
      (r) => r.rows.length === 1,
      5000,
      'the cut COMMIT to land',
    );
  });

  it('cuts a COMMIT sent through the extended protocol too', async () => {
    const client = await throughProxy();
    await client.query('BEGIN');
    await client.query('INSERT INTO chaos_probe (id) VALUES ($1)', ['cut-2']);
    proxy.armCommitCuts(1);
    await expect(client.query({ text: 'COMMIT', values: [], name: 'commit-stmt' })).rejects.toThrow();
    await waitUntil(
      () => db.pool.query(`SELECT id FROM chaos_probe WHERE id = 'cut-2'`),
      (r) => r.rows.length === 1,
      5000,
      'the cut COMMIT to land',
    );
  });

  it('resets a connection: its session ends and its open transaction rolls back', async () => {
    const client = await throughProxy();
    await client.query('BEGIN');
    await client.query(`INSERT INTO chaos_probe (id) VALUES ('reset-1')`);
    proxy.heal();
    const picked = proxy.reset(proxy.stats().open, () => 0);
    expect(picked).toBeGreaterThanOrEqual(1);
    await expect(client.query('SELECT 1')).rejects.toThrow();
    const { rows } = await db.pool.query(`SELECT id FROM chaos_probe WHERE id = 'reset-1'`);
    expect(rows).toEqual([]);
  });

  it('adds latency to every round trip, and heal() takes it away', async () => {
    const client = await throughProxy();
    proxy.setLatency(150);
    const started = Date.now();
    await client.query('SELECT 1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    proxy.heal();
    const again = Date.now();
    await client.query('SELECT 1');
    expect(Date.now() - again).toBeLessThan(150);
  });

  it('black-holes a connection: nothing comes back until it is reset', async () => {
    const client = await throughProxy();
    const holed = proxy.blackhole(proxy.stats().open, 300, () => 0);
    expect(holed).toBeGreaterThanOrEqual(1);
    const started = Date.now();
    await expect(client.query('SELECT 1')).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});
