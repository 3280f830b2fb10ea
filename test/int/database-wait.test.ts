// A process started while PostgreSQL is unreachable waits for it (bounded backoff, one log line per attempt)
// instead of exiting: /health/live answers while it waits, /health/ready does not. Once the database opens the
// role comes up and stays up; when it never opens, the process exits 1 with one line after DATABASE_WAIT_SECONDS.
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { spawnEntry, waitUntil, type Child } from '../helpers/system.ts';

const db = useTestDatabase();
const children: Child[] = [];
const sockets = new Set<net.Socket>();
let proxy: net.Server | undefined;

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
});

const run = (entry: 'api' | 'worker' | 'migrate', env: Record<string, string>) => {
  const child = spawnEntry(entry, env);
  children.push(child);
  return child;
};
const status = (url: string) =>
  fetch(url).then(
    (r) => r.status,
    () => 0,
  );
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens, on `port`, a plain TCP forwarder to the test database's server. */
async function openProxy(port: number, target: URL): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('start while the database is down', () => {
  it('api, worker and migrate wait for a database port that opens seconds later, then come up and stay up', async () => {
    const target = new URL(db.url);
    const dbPort = await freePort();
    const late = new URL(db.url);
    late.hostname = '127.0.0.1';
    late.port = String(dbPort);
    const [apiPort, metricsPort] = [await freePort(), await freePort()];
    const env = { DATABASE_URL: late.toString(), DATABASE_WAIT_SECONDS: '60', LOG_LEVEL: 'warn' };
    const api = run('api', { ...env, PORT: String(apiPort) });
    const worker = run('worker', { ...env, METRICS_PORT: String(metricsPort) });
    const migrate = run('migrate', env);

    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const workerUrl = `http://127.0.0.1:${metricsPort}`;
    // Waiting: alive, not ready, and the API refuses work with 503 rather than hanging.
    await waitUntil(
      () => status(`${apiUrl}/health/live`),
      (s) => s === 200,
      30_000,
      'the api to answer live while waiting',
    );
    await waitUntil(
      () => status(`${workerUrl}/health/live`),
      (s) => s === 200,
      30_000,
      "the worker's metrics listener to answer live while waiting",
    );
    await sleep(3000);
    expect(await status(`${apiUrl}/health/ready`)).toBe(503);
    expect(await status(`${workerUrl}/health/ready`)).toBe(503);
    expect(await status(`${apiUrl}/v1/commands/x`)).toBe(503);
    for (const child of [api, worker, migrate]) expect(child.process.exitCode, child.output()).toBeNull();
    // One log line per attempt.
    expect(lines(worker.output()).filter((line) => line.includes('waiting for PostgreSQL')).length).toBeGreaterThanOrEqual(2);

    proxy = await openProxy(dbPort, target);

    expect(await migrate.exited).toBe(0);
    await waitUntil(
      () => status(`${apiUrl}/health/ready`),
      (s) => s === 200,
      60_000,
      'the api to be ready once the database opened',
    );
    await waitUntil(
      () => status(`${workerUrl}/health/ready`),
      (s) => s === 200,
      60_000,
      'the worker to be ready once the database opened',
    );
    // It works: a command submitted to the api is applied by the worker.
    const res = await fetch(`${apiUrl}/v1/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=20' },
      body: JSON.stringify({ id: 'late-open-1', type: 'account.open', entityId: 'late-acc', payload: { currency: 'EUR' } }),
    });
    expect(((await res.json()) as { status: string }).status).toBe('succeeded');
    await sleep(2000);
    for (const child of [api, worker]) expect(child.process.exitCode, child.output()).toBeNull();
    expect(await api.kill('SIGTERM')).toBe(0);
    expect(await worker.kill('SIGTERM')).toBe(0);
  });

  it('exits 1 with one line when the database never opens within DATABASE_WAIT_SECONDS', async () => {
    const port = await freePort();
    const started = Date.now();
    const worker = run('worker', { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing`, DATABASE_WAIT_SECONDS: '3' });
    expect(await worker.exited).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(lines(worker.output())).toEqual([expect.stringMatching(/^oncely: cannot connect to DATABASE_URL: connection refused \(gave up after \d+ attempts in 3 s/)]);
  });

  it('stops with exit 0 on SIGTERM while it waits', async () => {
    const port = await freePort();
    const apiPort = await freePort();
    const api = run('api', { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing`, PORT: String(apiPort) });
    await waitUntil(
      () => status(`http://127.0.0.1:${apiPort}/health/live`),
      (s) => s === 200,
      30_000,
      'the waiting api',
    );
    expect(await api.kill('SIGTERM')).toBe(0);
  });
});
