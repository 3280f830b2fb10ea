// The shop against a real PostgreSQL (DATABASE_URL's server, in a database of its own, or oncely's embedded
// PostgreSQL 18), with oncely installed from its packed tarball: its own migration next to oncely's, orders
// placed over its own HTTP handler (the order row and the stock.reserve command in one transaction), the
// worker and oncely's API from createOncely.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { drizzle } from 'drizzle-orm/node-postgres';
import { CommandRefusedError, createOncely, submit, type CommandStatus, type Oncely } from 'oncely';
import { startEmbeddedPostgres, type EmbeddedServer } from 'oncely/postgres';
import pg from 'pg';
import { stockDomain } from '../src/domain.ts';
import { createShop, placeOrder } from '../src/shop.ts';

let embedded: EmbeddedServer | undefined;
let dataDir: string | undefined;
let admin: pg.Client;
let databaseName: string;
let pool: pg.Pool;
let oncely: Oncely<readonly [typeof stockDomain]>;
let server: ServerType;
let base: string;

before(async () => {
  let adminUrl = process.env['DATABASE_URL'];
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'stock-example-pg-'));
    // As root the server runs as the 'postgres' user, which must reach its data directory.
    await chmod(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'data'), persistent: false });
    adminUrl = embedded.url;
  }
  admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  databaseName = `stock_example_${randomBytes(5).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${databaseName}`);
  const url = new URL(adminUrl);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();

  oncely = createOncely({
    databaseUrl,
    domains: [stockDomain],
    config: { LOG_LEVEL: 'silent', POLL_INTERVAL_SECONDS: 0.5, JOB_EXPIRE_SECONDS: 4, SUPERVISE_INTERVAL_SECONDS: 1 },
  });
  // oncely's tables and the domain's own migrations (named by stockDomain), each with its journal.
  await oncely.migrate();
  await oncely.start({ api: true, worker: true });

  pool = new pg.Pool({ connectionString: databaseUrl, max: 5 });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: createShop({ db: drizzle(pool), oncely }).fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await oncely?.stop();
  await pool?.end();
  // A pool's end() resolves before its sockets have closed: let the last backends go before dropping the
  // database, so FORCE never terminates a connection still being closed (bounded: 10 s).
  for (let waited = 0; waited < 10_000; waited += 100) {
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [databaseName]);
    if (rows[0]?.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await admin?.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  await admin?.end();
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function post(
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string | null; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), body: (await res.json()) as Record<string, unknown> };
}

/** Waits (over oncely's HTTP API) until the command has ended. */
async function outcome(id: string): Promise<CommandStatus> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const res = await fetch(`${base}/v1/commands/${id}`, { headers: { prefer: 'wait=5' } });
    const status = (await res.json()) as CommandStatus;
    if (!['queued', 'retrying'].includes(status.status)) return status;
  }
  throw new Error(`command ${id} did not end`);
}

const stock = async (sku: string) => (await fetch(`${base}/v1/stock-items/${sku}`)).json() as Promise<{ onHand: number; reserved: number; available: number }>;
const pick = ({ onHand, reserved, available }: { onHand: number; reserved: number; available: number }) => ({ onHand, reserved, available });
const count = async (sqlText: string, values: unknown[] = []) => (await pool.query<{ n: number }>(sqlText, values)).rows[0]!.n;

describe('the stock-reservations shop on oncely', () => {
  it("receives stock over oncely's HTTP API", async () => {
    const received = await post('/v1/commands', { id: 'receive-apple-1', type: 'stock.receive', entityId: 'apple', payload: { quantity: 10 } }, { prefer: 'wait=10' });
    assert.equal(received.status, 200);
    assert.equal(received.body['status'], 'succeeded');
    assert.deepEqual(pick(await stock('apple')), { onHand: 10, reserved: 0, available: 10 });
  });

  it('places an order: the order row and its reservation command commit together, and the worker applies it', async () => {
    const placed = await post('/shop/orders', { orderId: 'o1', sku: 'apple', quantity: 3 });
    assert.equal(placed.status, 201);
    assert.equal((placed.body['reserve'] as { outcome: string }).outcome, 'accepted');
    const reserved = await outcome('o1-reserve');
    assert.equal(reserved.status, 'succeeded', JSON.stringify(reserved));
    assert.deepEqual(reserved.result, { status: 'RESERVED', version: 1 });
    const item = await stock('apple');
    assert.equal(item.reserved, 3);
    assert.equal(item.available, 7);
  });

  it('absorbs a retried request: the same order placed again creates no second command or reservation', async () => {
    const again = await post('/shop/orders', { orderId: 'o1', sku: 'apple', quantity: 3 });
    assert.equal(again.status, 200);
    assert.equal((again.body['reserve'] as { outcome: string }).outcome, 'duplicate');
    assert.equal(await count(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = 'o1-reserve'`), 1);
    assert.equal(await count(`SELECT count(*)::int AS n FROM reservations WHERE order_id = 'o1'`), 1);
    assert.equal((await stock('apple')).reserved, 3);
  });

  it('refuses a reservation when stock is short, and writes no reservation', async () => {
    const placed = await post('/shop/orders', { orderId: 'o2', sku: 'apple', quantity: 8 });
    assert.equal(placed.status, 201);
    const refused = await outcome('o2-reserve');
    assert.equal(refused.status, 'rejected');
    assert.deepEqual(refused.error, { code: 'insufficient_stock', message: 'apple: 7 available, 8 requested', details: { available: 7, requested: 8 } });
    assert.equal(await count(`SELECT count(*)::int AS n FROM reservations WHERE order_id = 'o2'`), 0);
    assert.equal((await stock('apple')).reserved, 3);
  });

  it('holds one live reservation per order: a second reserve command is refused, and the partial unique index stands behind it', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await submit(client, [{ id: 'o1-reserve-twice', type: 'stock.reserve', entityId: 'res-o1-b', payload: { orderId: 'o1', sku: 'apple', quantity: 1 } }], { oncely });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const twice = await outcome('o1-reserve-twice');
    assert.equal(twice.status, 'rejected');
    assert.deepEqual(twice.error?.details, { reservationId: 'res-o1' });
    await assert.rejects(
      pool.query(`INSERT INTO reservations (id, order_id, sku, quantity, status, version) VALUES ('res-o1-c', 'o1', 'apple', 1, 'RESERVED', 1)`),
      (err: { code?: string; constraint?: string }) => err.code === '23505' && err.constraint === 'reservations_one_live_per_order',
    );
  });

  it("leaves neither the order nor a command when the shop's transaction rolls back", async () => {
    // A bad quantity: the order row is inserted first, then submit() refuses the command and the handler's transaction rolls back.
    const bad = await post('/shop/orders', { orderId: 'o3', sku: 'apple', quantity: 0 });
    assert.equal(bad.status, 400);
    assert.equal(bad.contentType, 'application/problem+json');
    assert.equal(bad.body['code'], 'invalid_payload');
    assert.equal(bad.body['status'], 400);
    assert.equal(bad.body['type'], 'https://oncely.dev/problems/invalid-payload');
    assert.ok(Array.isArray(bad.body['errors']) && bad.body['errors'].length > 0);
    // A body that is not JSON at all: a problem naming the request, and nothing written.
    const garbled = await post('/shop/orders', '{"orderId": "o3",');
    assert.equal(garbled.status, 400);
    assert.equal(garbled.contentType, 'application/problem+json');
    assert.equal(garbled.body['code'], 'invalid_request');
    // The application's own code rolling back after a successful submit.
    await assert.rejects(
      drizzle(pool).transaction(async (tx) => {
        const reserve = await placeOrder(tx, { orderId: 'o4', sku: 'apple', quantity: 1 });
        assert.equal(reserve.outcome, 'accepted');
        tx.rollback();
      }),
    );
    await assert.rejects(
      drizzle(pool).transaction((tx) => placeOrder(tx, { orderId: 'o5', sku: 'apple', quantity: -2 })),
      (err) => err instanceof CommandRefusedError && err.reason === 'invalid_payload',
    );
    assert.equal(await count(`SELECT count(*)::int AS n FROM shop_orders WHERE id IN ('o3', 'o4', 'o5')`), 0);
    assert.equal(await count(`SELECT count(*)::int AS n FROM oncely.commands WHERE id IN ('o3-reserve', 'o4-reserve', 'o5-reserve')`), 0);
    assert.equal(await count(`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'id' IN ('o3-reserve', 'o4-reserve', 'o5-reserve')`), 0);
    assert.equal((await stock('apple')).reserved, 3);
  });

  it('cancels an order: the status change and the release commit together, and a retried cancel is a duplicate', async () => {
    const cancelled = await post('/shop/orders/o1/cancel', {});
    assert.equal(cancelled.status, 202);
    assert.equal((await outcome('o1-release')).status, 'succeeded');
    assert.deepEqual(pick(await stock('apple')), { onHand: 10, reserved: 0, available: 10 });
    const again = await post('/shop/orders/o1/cancel', {});
    assert.equal(again.status, 200);
    assert.equal((again.body['release'] as { outcome: string }).outcome, 'duplicate');
    const missing = await post('/shop/orders/none/cancel', {});
    assert.equal(missing.status, 404);
    assert.equal(missing.contentType, 'application/problem+json');
    assert.equal(missing.body['code'], 'not_found');
    // The released reservation frees the order's slot in the partial unique index.
    assert.equal(await count(`SELECT count(*)::int AS n FROM reservations WHERE order_id = 'o1' AND status = 'RESERVED'`), 0);
  });
});
