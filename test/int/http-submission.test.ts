// Every row of the contract's submission table (CONTRACT 3), plus 404/405, the body limit while reading
// (chunked too, through a real server) and database failures answered 503 rather than 500.
import { serve, type ServerType } from '@hono/node-server';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, ProblemError } from '../../src/client/index.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { createApp } from '../../src/http/app.ts';
import { createCommandService } from '../../src/processor/commands.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { stubReads } from '../helpers/http.ts';
import { startTestSystem, waitForTerminal } from '../helpers/system.ts';

const { db, system } = useTestSystem();

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  system.app!.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

/** Asserts an RFC 9457 problem with the contract's fields and returns it. */
async function expectProblem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  return body;
}

const count = async (id: string) => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = $1`, [id])).rows[0]?.n;

describe('POST /v1/commands', () => {
  it('stores and queues a new command: 202 with Location and the CommandStatus', async () => {
    const res = await post('/v1/commands', { id: 'open-s1', type: 'account.open', entityId: 's1', payload: {} });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe('/v1/commands/open-s1');
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await res.json()).toMatchObject({
      id: 'open-s1',
      type: 'account.open',
      entityId: 's1',
      expectedVersion: null,
      status: 'queued',
      attempts: 0,
      error: null,
      completedAt: null,
    });
  });

  it('answers 200 with Preference-Applied when the command ends within Prefer: wait', async () => {
    const res = await post('/v1/commands', { id: 'open-s2', type: 'account.open', entityId: 's2' }, { prefer: 'wait=10' });
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=10');
    expect(await res.json()).toMatchObject({ id: 'open-s2', status: 'succeeded', result: { balance: 0, version: 1 } });
  });

  it('replays the stored status for the same id and request: 200 if terminal, with Idempotent-Replayed', async () => {
    const body = { id: 'open-s3', type: 'account.open', entityId: 's3' };
    await post('/v1/commands', body);
    const first = await waitForTerminal(db.pool, 'open-s3');
    const again = await post('/v1/commands', body);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(first);
    expect(await count('open-s3')).toBe(1);
  });

  it('replays 202 with Idempotent-Replayed while the first is still in flight', async () => {
    // An API-only system on a database of its own: no worker anywhere can end the command between the two sends.
    const quiet = await createTestDatabase();
    const apiOnly = await startTestSystem(quiet.url, { roles: { api: true, worker: false } });
    try {
      const body = { id: 'open-s4', type: 'account.open', entityId: 's4-queued' };
      const send = () => apiOnly.app!.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await send()).status).toBe(202);
      const again = await send();
      expect(again.status).toBe(202);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(((await again.json()) as { status: string }).status).toMatch(/queued|retrying|succeeded/);
    } finally {
      await apiOnly.stop();
      await quiet.drop();
    }
  });

  it('refuses the same id with a different request: 422 idempotency_key_reused, nothing stored', async () => {
    await post('/v1/commands', { id: 'open-s5', type: 'account.open', entityId: 's5' });
    await expectProblem(await post('/v1/commands', { id: 'open-s5', type: 'account.open', entityId: 's5', payload: { currency: 'USD' } }), 422, 'idempotency_key_reused');
    const rows = await db.pool.query(`SELECT payload FROM oncely.commands WHERE id = 'open-s5'`);
    expect(rows.rows).toEqual([{ payload: {} }]);
  });

  it('takes the id from Idempotency-Key, and refuses a header that differs from the body: 400 idempotency_key_mismatch', async () => {
    const res = await post('/v1/commands', { type: 'account.open', entityId: 's6' }, { 'idempotency-key': 'open-s6' });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { id: string }).id).toBe('open-s6');
    await expectProblem(
      await post('/v1/commands', { id: 'open-s7', type: 'account.open', entityId: 's7' }, { 'idempotency-key': 'other' }),
      400,
      'idempotency_key_mismatch',
    );
    // Equal header and body ids are fine.
    expect((await post('/v1/commands', { id: 'open-s7', type: 'account.open', entityId: 's7' }, { 'idempotency-key': 'open-s7' })).status).toBe(202);
    expect(await count('other')).toBe(0);
  });

  it('refuses a command without any id: 400 idempotency_key_missing', async () => {
    await expectProblem(await post('/v1/commands', { type: 'account.open', entityId: 's8' }), 400, 'idempotency_key_missing');
  });

  it('refuses malformed JSON and bad envelopes: 400 invalid_request with errors [{path, message}]', async () => {
    const malformed = await expectProblem(await post('/v1/commands', '{"id": "x", '), 400, 'invalid_request');
    expect(malformed['errors']).toEqual([{ path: '(root)', message: 'malformed JSON' }]);
    const bad = await expectProblem(await post('/v1/commands', { id: 'bad id!', type: 'account.open', entityId: '', extra: 1 }), 400, 'invalid_request');
    const paths = new Set((bad['errors'] as { path: string; message: string }[]).map((e) => e.path));
    expect([...paths].sort()).toEqual(['(root)', 'entityId', 'id']);
    for (const body of [[], 'text', null, 42, { id: 'x', type: 'account.open', entityId: 'y', expectedVersion: -1 }]) {
      await expectProblem(await post('/v1/commands', JSON.stringify(body)), 400, 'invalid_request');
    }
    await expectProblem(await post('/v1/commands', { id: 'x', type: 'account.open', entityId: 'y' }, { 'idempotency-key': 'no spaces' }), 400, 'invalid_request');
  });

  it('refuses an unknown type: 400 unknown_command_type', async () => {
    const body = await expectProblem(await post('/v1/commands', { id: 'u1', type: 'account.close', entityId: 'y' }), 400, 'unknown_command_type');
    expect(body['knownTypes']).toContain('account.open');
  });

  it("refuses a payload that fails the type's schema: 400 invalid_payload with errors", async () => {
    const body = await expectProblem(
      await post('/v1/commands', { id: 'p1', type: 'account.credit', entityId: 'y', payload: { amount: 1.5, extra: true } }),
      400,
      'invalid_payload',
    );
    const paths = (body['errors'] as { path: string }[]).map((e) => e.path).sort();
    expect(paths).toEqual(['payload', 'payload.amount']);
    await expectProblem(await post('/v1/commands', { id: 'p2', type: 'account.open', entityId: 'y', payload: { currency: 'A\u0000B' } }), 400, 'invalid_payload');
    expect(await count('p1')).toBe(0);
  });

  it('refuses a body over 256 KiB: 413 payload_too_large, with or without Content-Length', async () => {
    const huge = JSON.stringify({ id: 'big', type: 'account.open', entityId: 'y', payload: { pad: 'x'.repeat(300 * 1024) } });
    await expectProblem(await post('/v1/commands', huge, { 'content-length': String(huge.length) }), 413, 'payload_too_large');
    // app.request streams a string body without Content-Length: the limit is counted while reading.
    await expectProblem(await post('/v1/commands', huge), 413, 'payload_too_large');
    const chunked = system.app!.request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 40; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(8 * 1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    });
    await expectProblem(await chunked, 413, 'payload_too_large');
    expect(await count('big')).toBe(0);
  });

  it('refuses a body that is not JSON: 415 unsupported_media_type', async () => {
    await expectProblem(await post('/v1/commands', 'id=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
    const none = await system.app!.request('/v1/commands', { method: 'POST', body: '{}' });
    await expectProblem(none, 415, 'unsupported_media_type');
    // A JSON media type with parameters or a +json suffix is JSON.
    expect((await post('/v1/commands', { id: 'open-s9', type: 'account.open', entityId: 's9' }, { 'content-type': 'application/json; charset=utf-8' })).status).toBe(202);
    expect((await post('/v1/commands', { id: 'open-s10', type: 'account.open', entityId: 's10' }, { 'content-type': 'application/vnd.oncely+json' })).status).toBe(202);
  });

  it('works through the typed client, which throws problems as ProblemError', async () => {
    const client = createClient({ baseUrl: 'http://oncely.test', fetch: (url, init) => Promise.resolve(system.app!.request(url, init)) });
    const { status, replayed } = await client.submit({ id: 'open-c1', type: 'account.open', entityId: 'c1', payload: {} }, { wait: 10 });
    expect(status.status).toBe('succeeded');
    expect(replayed).toBe(false);
    expect((await client.submit({ id: 'open-c1', type: 'account.open', entityId: 'c1', payload: {} })).replayed).toBe(true);
    const error = await client.submit({ id: 'open-c1', type: 'account.open', entityId: 'other', payload: {} }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProblemError);
    expect((error as ProblemError).code).toBe('idempotency_key_reused');
    expect(await client.get('nope')).toBeNull();
    expect((await client.get('open-c1'))?.status).toBe('succeeded');
  });
});

describe('routes and failures', () => {
  it('answers an unknown path 404 and a known path with a wrong method 405 with Allow, both as problems', async () => {
    await expectProblem(await system.app!.request('/v2/nothing'), 404, 'not_found');
    const wrong = await system.app!.request('/v1/commands', { method: 'GET' });
    const body = await expectProblem(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(body['detail']).not.toMatch(/\/work|node_modules|\.ts/);
    const del = await system.app!.request('/v1/commands/x', { method: 'DELETE' });
    await expectProblem(del, 405, 'method_not_allowed');
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    await expectProblem(await system.app!.request('/v1/commands/x', { method: 'GET' }), 404, 'not_found');
  });

  it('answers 503 service_unavailable with Retry-After when the database cannot be reached, and 500 without details for a bug', async () => {
    const dead = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 1000 });
    dead.on('error', () => {});
    const errors: unknown[] = [];
    const commands = createCommandService({ pool: dead, schema: 'oncely', enqueue: async () => {}, listener: undefined });
    const reads = stubReads((read) =>
      read.operationId === 'getAccount' ? Promise.reject(new Error('secret SQL: SELECT * FROM accounts at /work/main/src/x.ts')) : Promise.resolve(null),
    );
    const app = createApp({
      registry: createDefaultRegistry(),
      commands,
      ...reads,
      ready: () => Promise.resolve(false),
      apiKeys: [],
      onError: (err) => errors.push(err),
    });
    try {
      const res = await app.request('/v1/commands', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'x', type: 'account.open', entityId: 'y' }),
      });
      await expectProblem(res, 503, 'service_unavailable');
      expect(res.headers.get('retry-after')).toBe('1');
      await expectProblem(await app.request('/v1/commands/x'), 503, 'service_unavailable');
      const bug = await app.request('/v1/accounts/a1');
      const text = JSON.stringify(await expectProblem(bug, 500, 'internal_error'));
      expect(text).not.toMatch(/SELECT|\/work|\.ts|at /);
      await expectProblem(await app.request('/health/ready'), 503, 'service_unavailable');
      expect(errors.length).toBe(3);
    } finally {
      await dead.end();
    }
  });
});

describe('through a real server', () => {
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: system.app!.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends a body in chunks with Transfer-Encoding: chunked (no Content-Length). */
  function sendChunked(chunks: string[]): Promise<{ status: number; type: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/v1/commands', method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  }

  it('enforces 256 KiB on a chunked body while reading it, and accepts a small chunked body', async () => {
    const big = await sendChunked(Array.from({ length: 40 }, () => ' '.repeat(8 * 1024)));
    expect(big.status).toBe(413);
    expect(big.type).toBe('application/problem+json');
    expect((JSON.parse(big.body) as { code?: string }).code).toBe('payload_too_large');
    const json = JSON.stringify({ id: 'open-chunked', type: 'account.open', entityId: 'chunked' });
    const small = await sendChunked([json.slice(0, 10), json.slice(10)]);
    expect(small.status).toBe(202);
    expect(await count('open-chunked')).toBe(1);
  });

  it('refuses a declared Content-Length over the limit before reading the body', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: ' '.repeat(256 * 1024 + 1),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('payload_too_large');
    const ok = await fetch(`http://127.0.0.1:${port}/v1/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'open-at-limit', type: 'account.open', entityId: 'limit' }).padEnd(256 * 1024, ' '),
    });
    expect(ok.status).toBe(202);
  });
});
