// Prefer: wait=N answers the moment the command is terminal (woken by the settled notification, not by a
// polling loop), gives up after N seconds, and a process holds at most maxWaiters waiting requests.
import { describe, expect, it } from 'vitest';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { createApp } from '../../src/http/app.ts';
import type { System } from '../../src/system.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { stubReads } from '../helpers/http.ts';
import { startTestSystem, waitUntil } from '../helpers/system.ts';

// The API alone: commands stay queued until a worker is started on purpose.
const { db, system: api } = useTestSystem({ roles: { api: true, worker: false } });

const submit = (app: System['app'], body: unknown, headers: Record<string, string> = {}) =>
  app!.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('Prefer: wait', () => {
  it('holds GET until another process commits the outcome, and answers within milliseconds of the commit', async () => {
    const ids = ['open-w1', 'open-w2', 'open-w3', 'open-w4', 'open-w5'];
    for (const id of ids) expect((await submit(api.app, { id, type: 'account.open', entityId: id.slice(5) })).status).toBe(202);
    const started = Date.now();
    const waits = ids.map((id) =>
      Promise.resolve(api.app!.request(`/v1/commands/${id}`, { headers: { prefer: 'wait=20' } })).then(async (res) => ({
        res,
        at: Date.now(),
        body: (await res.json()) as CommandStatus,
      })),
    );
    // A worker of its own, with its own pools: the only way the API hears of the outcome is the notification.
    const worker = await startTestSystem(db.url, { roles: { api: false, worker: true } });
    try {
      const answers = await Promise.all(waits);
      const latencies: number[] = [];
      for (const { res, at, body } of answers) {
        expect(res.status).toBe(200);
        expect(res.headers.get('preference-applied')).toBe('wait=20');
        expect(body.status).toBe('succeeded');
        latencies.push(at - Date.parse(body.completedAt!));
      }
      // Waiters are woken only by the notification (no re-reads on a timer): answers this close to the commit came from it.
      console.log(`Prefer: wait latency after the worker's transaction began (ms): ${latencies.join(', ')}; held ${Date.now() - started} ms in total`);
      expect(Math.max(...latencies)).toBeLessThan(500);
    } finally {
      await worker.stop();
    }
  });

  it('hears a settlement that happens before the POST starts waiting: the wait begins before the submission', async () => {
    // The submission's answer reaches the handler only once a worker has applied the command and its
    // notification has gone out: a wait that began listening after the submission would hear nothing and
    // hold the request for its whole 10 s.
    const app = createApp({
      registry: createDefaultRegistry(),
      commands: {
        ...api.commands,
        async submit(clientId, commands) {
          const submissions = await api.commands.submit(clientId, commands);
          for (const command of commands) {
            await waitUntil(
              async () => (await db.pool.query<{ status: string }>(`SELECT status FROM oncely.commands WHERE id = $1`, [command.id])).rows[0]?.status,
              (status) => status === 'succeeded',
              20_000,
              `${command.id} applied`,
            );
          }
          return submissions;
        },
      },
      ...stubReads(),
      ready: () => Promise.resolve(true),
      apiKeys: [],
    });
    const worker = await startTestSystem(db.url, { roles: { api: false, worker: true } });
    try {
      const started = Date.now();
      const answers = await Promise.all(
        ['open-early-1', 'open-early-2', 'open-early-3'].map(async (id) => {
          const res = await submit(app, { id, type: 'account.open', entityId: id.slice(5) }, { prefer: 'wait=10' });
          return { res, body: (await res.json()) as CommandStatus };
        }),
      );
      for (const { res, body } of answers) {
        expect(res.status).toBe(200);
        expect(res.headers.get('preference-applied')).toBe('wait=10');
        expect(body.status).toBe('succeeded');
      }
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      await worker.stop();
    }
  });

  it('gives up after N seconds: POST answers 202 and GET 200, both with the command still queued', async () => {
    const started = Date.now();
    const post = await submit(api.app, { id: 'open-w6', type: 'account.open', entityId: 'w6' }, { prefer: 'wait=1' });
    expect(post.status).toBe(202);
    expect(post.headers.get('preference-applied')).toBe('wait=1');
    expect(((await post.json()) as CommandStatus).status).toBe('queued');
    const get = await api.app!.request('/v1/commands/open-w6', { headers: { prefer: 'wait=0.5' } });
    expect(get.status).toBe(200);
    expect(((await get.json()) as CommandStatus).status).toBe('queued');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(5000);
  });

  it('ignores an unusable preference and answers at once', async () => {
    for (const prefer of ['wait=0', 'wait=31', 'wait=-1', 'wait=abc', 'respond-async', 'wait=1e3']) {
      const started = Date.now();
      const res = await api.app!.request('/v1/commands/open-w6', { headers: { prefer } });
      expect(res.status).toBe(200);
      expect(res.headers.get('preference-applied')).toBeNull();
      expect(Date.now() - started).toBeLessThan(500);
    }
  });

  it('holds at most maxWaiters requests; beyond that the preference is ignored, not refused', async () => {
    const app = createApp({
      registry: createDefaultRegistry(),
      commands: api.commands,
      ...stubReads(),
      ready: () => Promise.resolve(true),
      apiKeys: [],
      maxWaiters: 2,
    });
    const held = [1, 2].map(async () => await app.request('/v1/commands/open-w6', { headers: { prefer: 'wait=2' } }));
    await waitUntil(
      async () => (await (await app.request('/metrics')).text()).match(/^oncely_waiting_requests (\d+)$/m)?.[1],
      (n) => n === '2',
      5000,
      'two waiting requests',
    );
    const started = Date.now();
    const third = await app.request('/v1/commands/open-w6', { headers: { prefer: 'wait=2' } });
    expect(Date.now() - started).toBeLessThan(500);
    expect(third.status).toBe(200);
    expect(third.headers.get('preference-applied')).toBeNull();
    for (const res of await Promise.all(held)) expect(res.headers.get('preference-applied')).toBe('wait=2');
    // Once they are answered the slots are free again.
    expect(await (await app.request('/metrics')).text()).toMatch(/^oncely_waiting_requests 0$/m);
  });
});
