// Prefer: wait has bounds: a wait ends when its client disconnects (its slot is freed at once), each client
// gets a fair share of the slots, waiters are woken by the one LISTEN connection and never re-read on a
// timer, and on SIGTERM every open wait is answered at once with its command's status and the process exits 0.
import { serve, type ServerType } from '@hono/node-server';
import type pg from 'pg';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { freePort } from '../../src/db/embedded.ts';
import { createSettledListener } from '../../src/db/settled-listener.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { createApp } from '../../src/http/app.ts';
import { createCommandService } from '../../src/processor/commands.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { stubReads } from '../helpers/http.ts';
import { spawnEntry, waitUntil } from '../helpers/system.ts';

// No worker: commands stay queued, so every wait runs to its end unless something ends it.
const { db, system: api } = useTestSystem({ roles: { api: true, worker: false } });

const open = (id: string) => JSON.stringify({ id, type: 'account.open', entityId: id });
const waitingOf = async (app: { request: (path: string) => Response | Promise<Response> }) =>
  (await (await app.request('/metrics')).text()).match(/^oncely_waiting_requests (\d+)$/m)?.[1];

describe('Prefer: wait with bounds', () => {
  it('ends a wait when its client disconnects, freeing the slot at once', async () => {
    const app = api.app!;
    expect((await app.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: open('gone-1') })).status).toBe(202);
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    try {
      const port = (server.address() as AddressInfo).port;
      const abort = new AbortController();
      const request = fetch(`http://127.0.0.1:${port}/v1/commands/gone-1`, { headers: { prefer: 'wait=30' }, signal: abort.signal }).catch(() => 'aborted');
      await waitUntil(
        () => waitingOf(app),
        (n) => n === '1',
        5000,
        'the wait to be held',
      );
      const cut = Date.now();
      abort.abort();
      expect(await request).toBe('aborted');
      await waitUntil(
        () => waitingOf(app),
        (n) => n === '0',
        3000,
        'the slot to be freed after the client left',
      );
      expect(Date.now() - cut).toBeLessThan(3000);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('gives each client a fair share of the slots: over its share a client gets the immediate answer, another client still waits', async () => {
    const A = 'client-a-key-0123456789';
    const B = 'client-b-key-0123456789';
    const app = createApp({
      registry: createDefaultRegistry(),
      commands: api.commands,
      ...stubReads(),
      ready: () => Promise.resolve(true),
      apiKeys: [A, B],
      maxWaiters: 4,
    });
    const as = (key: string, path: string, init: RequestInit = {}) =>
      Promise.resolve(app.request(path, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } }));
    for (const [key, id] of [
      [A, 'share-a'],
      [B, 'share-b'],
    ] as const) {
      expect((await as(key, '/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: open(id) })).status).toBe(202);
    }
    // A takes its share (2 of 4 slots).
    const held = [1, 2].map(() => as(A, '/v1/commands/share-a', { headers: { prefer: 'wait=2' } }));
    await waitUntil(
      () => as(A, '/metrics').then(async (r) => (await r.text()).match(/^oncely_waiting_requests (\d+)$/m)?.[1]),
      (n) => n === '2',
      5000,
      "A's two waits",
    );
    const started = Date.now();
    const over = await as(A, '/v1/commands/share-a', { headers: { prefer: 'wait=2' } });
    expect(Date.now() - started).toBeLessThan(500);
    expect(over.headers.get('preference-applied')).toBeNull();
    // B, under its share, waits although the process holds waits of A's.
    const b = await as(B, '/v1/commands/share-b', { headers: { prefer: 'wait=1' } });
    expect(b.headers.get('preference-applied')).toBe('wait=1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    for (const res of await Promise.all(held)) expect(res.headers.get('preference-applied')).toBe('wait=2');
  });

  it('wakes a waiter only by the notification: no re-reads of the row while it waits', async () => {
    expect((await api.app!.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: open('quiet-1') })).status).toBe(202);
    let reads = 0;
    const counting = new Proxy(db.pool, {
      get(target, property, receiver) {
        if (property === 'query')
          return (...args: Parameters<pg.Pool['query']>) => {
            reads++;
            return (target.query as (...a: unknown[]) => unknown).apply(target, args);
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const listener = createSettledListener({ connectionString: db.url, onError: () => {} });
    const service = createCommandService({ pool: counting, schema: 'oncely', enqueue: () => Promise.resolve(), listener });
    try {
      await waitUntil(
        () => listener.waiting,
        () => true,
      );
      const status = await service.waitFor('anonymous', 'quiet-1', 3.5);
      expect(status?.status).toBe('queued');
      // The first read, and the one after the wait ran out (a reconnect of the listener may add one more).
      expect(reads).toBeLessThanOrEqual(3);
    } finally {
      await listener.stop();
    }
  });

  it('on SIGTERM answers 50 open waits at once with their current status and exits 0', async () => {
    const port = await freePort();
    const child = spawnEntry('api', { DATABASE_URL: db.url, PORT: String(port) });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitUntil(
        () =>
          fetch(`${base}/health/ready`).then(
            (r) => r.status,
            () => 0,
          ),
        (s) => s === 200,
        30_000,
        'the api',
      );
      const waits = Array.from({ length: 50 }, (_, i) =>
        fetch(`${base}/v1/commands`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'wait=30' }, body: open(`term-${i}`) }).then(
          async (res) => ({ status: res.status, body: (await res.json()) as CommandStatus }),
          (err: unknown) => ({ status: 0, body: { status: String(err) } as unknown as CommandStatus }),
        ),
      );
      await waitUntil(
        async () => (await (await fetch(`${base}/metrics`)).text()).match(/^oncely_waiting_requests (\d+)$/m)?.[1],
        (n) => n === '50',
        15_000,
        '50 open waits',
      );
      const signalled = Date.now();
      child.process.kill('SIGTERM');
      const answers = await Promise.all(waits);
      const answeredWithin = Date.now() - signalled;
      expect(answers.map((a) => a.status)).toEqual(Array(50).fill(202));
      expect(new Set(answers.map((a) => a.body.status))).toEqual(new Set(['queued']));
      expect(answeredWithin).toBeLessThan(5000);
      expect(await child.exited).toBe(0);
    } finally {
      await child.kill('SIGKILL');
    }
  });
});
