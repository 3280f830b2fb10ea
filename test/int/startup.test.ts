// Entry points: bad configuration exits non-zero with one clear line; SIGTERM drains and exits 0;
// readiness reports a database whose schema is behind.
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { spawnEntry, waitUntil, type Child } from '../helpers/system.ts';

const db = useTestDatabase();
const children: Child[] = [];
const run = (entry: 'api' | 'worker' | 'migrate', env: Record<string, string>) => {
  const child = spawnEntry(entry, env);
  children.push(child);
  return child;
};

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
});

const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

describe('startup', () => {
  it('exits 2 with one line naming DATABASE_URL when it is not a postgres URL', async () => {
    const child = run('api', { DATABASE_URL: 'not a url' });
    expect(await child.exited).toBe(2);
    expect(lines(child.output())).toHaveLength(1);
    expect(child.output()).toMatch(/^oncely: invalid configuration: DATABASE_URL/);
  });

  it('exits 2 with one line naming PORT when it is not a port', async () => {
    const child = run('api', { DATABASE_URL: db.url, PORT: '99999' });
    expect(await child.exited).toBe(2);
    expect(lines(child.output())).toEqual([expect.stringMatching(/PORT/)]);
  });

  it('exits 1 with one line when the database cannot be reached (DATABASE_WAIT_SECONDS=0: no wait)', async () => {
    const port = await freePort();
    const child = run('worker', { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing`, DATABASE_WAIT_SECONDS: '0' });
    expect(await child.exited).toBe(1);
    expect(lines(child.output())).toEqual(['oncely: cannot connect to DATABASE_URL: connection refused']);
  });

  it('exits 1 with one line when PORT is taken', async () => {
    const port = await freePort();
    const first = run('api', { DATABASE_URL: db.url, PORT: String(port) });
    await waitUntil(
      () =>
        fetch(`http://127.0.0.1:${port}/health/live`).then(
          (r) => r.status,
          () => 0,
        ),
      (s) => s === 200,
      30_000,
      'the first api',
    );
    const second = run('api', { DATABASE_URL: db.url, PORT: String(port) });
    expect(await second.exited).toBe(1);
    expect(lines(second.output()).at(-1)).toMatch(/PORT .* is already in use/);
    expect(await first.kill('SIGTERM')).toBe(0);
  });

  it('answers ready only while the schema is current, and stops on SIGTERM with exit 0', async () => {
    const port = await freePort();
    const api = run('api', { DATABASE_URL: db.url, PORT: String(port) });
    const ready = () =>
      fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
    await waitUntil(ready, (s) => s === 200, 30_000, 'ready');
    // Pretend a served domain's migration was never applied (the engine's and every served domain's count).
    await db.pool.query(`UPDATE oncely.migrations SET domain = 'hidden-orders' WHERE domain = 'orders'`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    } finally {
      await db.pool.query(`UPDATE oncely.migrations SET domain = 'orders' WHERE domain = 'hidden-orders'`);
    }
    expect(await ready()).toBe(200);
    expect(await api.kill('SIGTERM')).toBe(0);
  });
});
