// Named clients and rotating keys, over real HTTP: keys of one client (`client:key` in API_KEYS) share its
// command ids, so a command submitted with one key is read, replayed and deduplicated with another (a
// retried credit after a rotation is applied once); another client's key sees 404; a key limited to scopes
// gets 403 outside them; a bare key keeps the client id it always had.
import { serve, type ServerType } from '@hono/node-server';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { accountCommands, creditAccount } from '../../src/domains/accounts/commands.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForTerminal } from '../helpers/system.ts';

const K1 = 'billing-k1-0123456789abcdef';
const K2 = 'billing-k2-0123456789abcdef';
const K5 = 'billing-k5-rotated-0123456789';
const K3 = 'shop-k3-0123456789abcdef';
const K4 = 'billing-ro-k4-0123456789abcdef';
const LEGACY = 'legacy-bare-key-0123456789abcdef';

/** Always fails: a command that ends dead, for the replay. */
const doomed = defineCommand({
  type: 'test.doomed',
  summary: 'fails on every attempt',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => creditAccount.plan(command),
  decide() {
    throw new Error('doomed');
  },
});

const { db, system } = useTestSystem({
  registry: createRegistry([...accountCommands, doomed]),
  env: { RETRY_LIMIT: '1', API_KEYS: `billing:${K1}, billing:${K2}:read+operate, billing:${K5}, shop:${K3}, billing-ro:${K4}:read, ${LEGACY}` },
});
let server: ServerType;
let base: string;

beforeAll(async () => {
  const app = system.app!;
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

const call = async (key: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? (path.endsWith('/replay') ? 'POST' : 'GET') : 'POST',
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
};

describe('named clients, rotating keys', () => {
  it('submits with one key of a client and reads, deduplicates and replays with another; money moves once', async () => {
    expect((await call(K1, '/v1/commands', { id: 'open-b', type: 'account.open', entityId: 'acc-b', payload: {} })).status).toBe(202);
    await waitForTerminal(db.pool, 'open-b', 30_000, 'billing');
    const credit = { id: 'credit-b', type: 'account.credit', entityId: 'acc-b', payload: { amount: 500 } };
    expect((await call(K1, '/v1/commands', credit)).status).toBe(202);
    await waitForTerminal(db.pool, 'credit-b', 30_000, 'billing');
    // Read with another key of the same client.
    const read = await call(K2, '/v1/commands/credit-b');
    expect(read.status).toBe(200);
    expect(read.body['status']).toBe('succeeded');
    // After a rotation (K1 retired, K5 new), the client retries the credit: a duplicate, not a second credit.
    const retried = await call(K5, '/v1/commands', credit);
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect((await call(K5, '/v1/accounts/acc-b')).body['balance']).toBe(500);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = 'credit-b'`);
    expect(rows[0]?.n).toBe(1);

    // A dead command submitted with K1 is listed and replayed with K2.
    expect((await call(K1, '/v1/commands', { id: 'doomed-b', type: 'test.doomed', entityId: 'acc-b', payload: { amount: 1 } })).status).toBe(202);
    expect((await waitForTerminal(db.pool, 'doomed-b', 30_000, 'billing')).status).toBe('dead');
    const dead = await call(K2, '/v1/dead-letters');
    expect((dead.body['items'] as { id: string }[]).map((item) => item.id)).toEqual(['doomed-b']);
    expect((await call(K2, '/v1/commands/doomed-b/replay')).status).toBe(202);
  });

  it("answers 404 to another client's key for the command, its replay and its dead letters", async () => {
    expect((await call(K3, '/v1/commands/credit-b')).status).toBe(404);
    expect((await call(K3, '/v1/commands/doomed-b/replay')).status).toBe(404);
    expect((await call(K3, '/v1/dead-letters')).body['items']).toEqual([]);
  });

  it('answers 403 problem+json to a key outside its scopes, and stores nothing', async () => {
    const submit = await fetch(`${base}/v1/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${K4}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'ro-submit', type: 'account.open', entityId: 'ro', payload: {} }),
    });
    expect(submit.status).toBe(403);
    expect(submit.headers.get('content-type')).toBe('application/problem+json');
    expect(((await submit.json()) as { code: string }).code).toBe('forbidden');
    expect((await call(K4, '/v1/commands/batch', { commands: [{ id: 'ro-batch', type: 'account.open', entityId: 'ro', payload: {} }] })).status).toBe(403);
    expect((await call(K2, '/v1/commands', { id: 'k2-submit', type: 'account.open', entityId: 'k2', payload: {} })).status).toBe(403);
    expect((await call(K4, '/v1/dead-letters')).status).toBe(403);
    expect((await call(K4, '/v1/commands/x/replay')).status).toBe(403);
    expect((await call(K4, '/v1/stats')).status).toBe(403);
    // Its reads work; billing-ro is a client of its own, so billing's command is not its to see.
    expect((await call(K4, '/v1/accounts/acc-b')).status).toBe(200);
    expect((await call(K4, '/v1/commands/credit-b')).status).toBe(404);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id IN ('ro-submit', 'ro-batch', 'k2-submit')`);
    expect(rows[0]?.n).toBe(0);
  });

  it("keeps a bare key's client id as it always was: key- and the first 16 hex digits of its SHA-256", async () => {
    expect((await call(LEGACY, '/v1/commands', { id: 'legacy-1', type: 'account.open', entityId: 'legacy-acc', payload: {} })).status).toBe(202);
    const expected = `key-${createHash('sha256').update(LEGACY).digest('hex').slice(0, 16)}`;
    const { rows } = await db.pool.query<{ client_id: string }>(`SELECT client_id FROM oncely.commands WHERE id = 'legacy-1'`);
    expect(rows.map((row) => row.client_id)).toEqual([expected]);
    // Named clients are stored under their names.
    const named = await db.pool.query<{ client_id: string }>(`SELECT DISTINCT client_id FROM oncely.commands WHERE id <> 'legacy-1' ORDER BY client_id`);
    expect(named.rows.map((row) => row.client_id)).toEqual(['billing']);
  });
});
