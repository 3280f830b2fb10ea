// GET /v1/stats (what /dashboard shows) counts exactly the traffic that was served: outcomes, throughput,
// latency, the queue, dead letters and duplicates by stage; it needs the API key like every data route,
// while the dashboard's page (which holds no data) does not.
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { StatsSchema, type Stats } from '../../src/http/schemas.ts';
import type { System } from '../../src/system.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestSystem, waitForAllTerminal, waitForTerminal } from '../helpers/system.ts';

const KEY = 'stats-test-key-0123456789';

const poison = defineCommand({
  type: 'test.poison',
  summary: 'always fails',
  payload: z.strictObject({}),
  handle: () => Promise.reject(new Error('test.poison always fails')),
});

const { db, system } = useTestSystem({ registry: createRegistry([...createDefaultRegistry().definitions(), poison]), env: { RETRY_LIMIT: '1' } });
let keyed: System | undefined;
let idle: { db: TestDatabase; system: System } | undefined;

afterAll(async () => {
  await keyed?.stop();
  await idle?.system.stop();
  await idle?.db.drop();
});

async function post(app: System['app'], body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await app!.request('/v1/commands', {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=10', ...headers },
    body: JSON.stringify({ payload: {}, ...body }),
  });
  expect([200, 202]).toContain(res.status);
  return res;
}

async function stats(app: System['app'], headers: Record<string, string> = {}): Promise<Stats> {
  const res = await app!.request('/v1/stats', { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return StatsSchema.parse(await res.json());
}

const sum = (stats: Stats, key: 'submitted' | 'succeeded' | 'rejected' | 'conflict' | 'dead') => stats.throughput.reduce((n, bucket) => n + bucket[key], 0);

describe('GET /v1/stats', () => {
  it('counts the traffic served: outcomes, throughput, latency, an empty queue, dead letters and duplicates by stage', async () => {
    await post(system.app, { id: 'open-s1', type: 'account.open', entityId: 's1' });
    for (let i = 1; i <= 3; i++) await post(system.app, { id: `credit-s1-${i}`, type: 'account.credit', entityId: 's1', payload: { amount: 100 } });
    await post(system.app, { id: 'debit-s1-too-much', type: 'account.debit', entityId: 's1', payload: { amount: 10_000 } });
    await post(system.app, { id: 'poison-1', type: 'test.poison', entityId: 'p1' });
    // The same id and request again: absorbed at submission, not a seventh command.
    const again = await post(system.app, { id: 'credit-s1-1', type: 'account.credit', entityId: 's1', payload: { amount: 100 } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await waitForTerminal(db.pool, 'poison-1')).status).toBe('dead');
    await waitForAllTerminal(db.pool);

    const figures = await stats(system.app);
    expect(figures.outcomes).toEqual({ succeeded: 4, rejected: 1, conflict: 0, dead: 1 });
    expect(figures.throughput).toHaveLength(figures.windowSeconds / figures.bucketSeconds);
    expect(Date.parse(figures.throughput.at(-1)!.at)).toBeLessThanOrEqual(Date.parse(figures.at));
    expect(sum(figures, 'submitted')).toBe(6);
    expect([sum(figures, 'succeeded'), sum(figures, 'rejected'), sum(figures, 'dead')]).toEqual([4, 1, 1]);
    expect(figures.rates.completedPerSecond).toBeGreaterThan(0);

    expect(figures.latency.count).toBe(6);
    const { p50, p90, p99 } = figures.latency;
    expect(p50).not.toBeNull();
    expect(p50!).toBeGreaterThan(0);
    expect(p50!).toBeLessThanOrEqual(p90!);
    expect(p90!).toBeLessThanOrEqual(p99!);
    // Latency is measured by the database: commit of the outcome minus the submission.
    const { rows } = await db.pool.query<{ max: number }>(`SELECT max(extract(epoch FROM completed_at - submitted_at))::float8 AS max FROM oncely.commands`);
    expect(p99!).toBeLessThanOrEqual(rows[0]!.max + 1e-6);

    expect(figures.queue).toEqual({ queued: 0, retrying: 0, depth: 0, oldestQueuedSeconds: null });
    expect(figures.deadLetters.count).toBe(1);
    expect(figures.deadLetters.newest.map((item) => [item.id, item.status])).toEqual([['poison-1', 'dead']]);

    expect(figures.duplicates.scope).toBe('process');
    expect(figures.duplicates.counted).toBe(true);
    expect(figures.duplicates.byStage).toMatchObject({ resubmission: 1, in_request: 0 });
    expect(Object.keys(figures.duplicates.byStage)).toEqual(expect.arrayContaining(['resubmission', 'in_request', 'redelivery', 'broker']));
  });

  it('shows commands waiting and the age of the oldest while no worker takes them', async () => {
    const other = await createTestDatabase();
    idle = { db: other, system: await startTestSystem(other.url, { roles: { api: true, worker: false } }) };
    expect((await stats(idle.system.app)).queue.depth).toBe(0);
    for (const id of ['q1', 'q2']) {
      const res = await idle.system.app!.request('/v1/commands', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, type: 'account.open', entityId: id, payload: {} }),
      });
      expect(res.status).toBe(202);
    }
    // The database part is read at most once a second: a later read sees the new commands.
    let figures = await stats(idle.system.app);
    const deadline = Date.now() + 5000;
    while (figures.queue.depth !== 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      figures = await stats(idle.system.app);
    }
    expect(figures.queue).toMatchObject({ queued: 2, retrying: 0, depth: 2 });
    expect(figures.queue.oldestQueuedSeconds).toBeGreaterThanOrEqual(0);
    expect(figures.queue.oldestQueuedSeconds).toBeLessThan(60);
    expect(sum(figures, 'submitted')).toBe(2);
    expect(figures.outcomes).toEqual({ succeeded: 0, rejected: 0, conflict: 0, dead: 0 });
    expect(figures.latency).toMatchObject({ count: 0, p50: null, p90: null, p99: null });
  });

  it("needs the API key when API_KEYS is set (401 problem otherwise), and lists only the caller's own dead letters", async () => {
    keyed = await startTestSystem(db.url, { roles: { api: true, worker: false }, env: { API_KEYS: KEY } });
    for (const headers of [{}, { authorization: 'Bearer not-the-key-at-all-000' }]) {
      const res = await keyed.app!.request('/v1/stats', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const body = (await res.json()) as { code: string; detail: string };
      expect(body.code).toBe('unauthorized');
      expect(JSON.stringify(body)).not.toMatch(/deadLetters|throughput/);
    }
    const figures = await stats(keyed.app, { authorization: `Bearer ${KEY}` });
    // The dead command belongs to the anonymous client: counted for everyone, listed only for its owner.
    expect(figures.deadLetters.count).toBe(1);
    expect(figures.deadLetters.newest).toEqual([]);
    expect(figures.outcomes.succeeded).toBe(4);
  });
});

describe('/dashboard', () => {
  it('is served without a key (it holds no data) as one page with a strict Content-Security-Policy', async () => {
    keyed ??= await startTestSystem(db.url, { roles: { api: true, worker: false }, env: { API_KEYS: KEY } });
    const res = await keyed.app!.request('/dashboard');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/https?:|'unsafe-inline'|'unsafe-eval'/);
    const html = await res.text();
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i);
    expect(html).toContain("fetch('/v1/stats'");
    // Everything else still needs the key.
    expect((await keyed.app!.request('/docs')).status).toBe(401);
    expect((await keyed.app!.request('/dashboard/x')).status).toBe(401);
  });
});
