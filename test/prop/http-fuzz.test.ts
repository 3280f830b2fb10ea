// Hostile input against every endpoint: malformed JSON, wrong types, huge and deeply nested values, odd
// strings, bad headers, ids and methods. Whatever comes in: no 5xx, every error is a complete problem+json
// document that leaks nothing, and rejected input writes no row (commands and pgboss.job are counted).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { createApp } from '../../src/http/app.ts';
import { PROBLEMS } from '../../src/http/problem.ts';
import type { System } from '../../src/system.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { stubReads } from '../helpers/http.ts';
import { startTestSystem } from '../helpers/system.ts';

let db: TestDatabase;
let api: System;
let baseline: { commands: number; jobs: number };
/** Commands the API reported as newly stored; the tables must grow by exactly this much. */
let accepted = 0;
let cases = 0;

async function rowCounts(): Promise<{ commands: number; jobs: number }> {
  const { rows } = await db.pool.query<{ commands: number; jobs: number }>(
    `SELECT (SELECT count(*)::int FROM oncely.commands) AS commands,
            -- The commands jobs carry: a job holds one command, or several stored together ({ commands: [...] }).
            (SELECT count(*)::int FROM pgboss.job j,
               jsonb_array_elements(CASE WHEN j.data ? 'commands' THEN j.data->'commands' ELSE jsonb_build_array(j.data) END) AS c(ref)
             WHERE j.name = 'oncely-commands') AS jobs`,
  );
  return rows[0]!;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // No worker: nothing settles, so a `Prefer: wait` could only time out; the fuzzer keeps its waits tiny.
  api = await startTestSystem(db.url, { roles: { api: true, worker: false } });
  baseline = await rowCounts();
});
afterAll(async () => {
  console.log(`http fuzz: ${cases} requests, ${accepted} of them stored a command`);
  await api?.stop();
  await db?.drop();
});

const TYPES = createDefaultRegistry().types;
const LEAK = /\/work\/|node_modules|\.ts\b|\bat [\w.<>]+ \(|SELECT |INSERT |UPDATE |pgboss|jsonb_|Error:/;

/** Odd text: any code point, plus lone surrogates, NUL, bidi overrides, BOMs and non-characters. */
const oddChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\uD800', '\uDFFF', '\u0000', '\u202E', '\uFEFF', '\uFFFF', '\u0085', '"', '\\', '/', '%', '..') },
);
const oddString = fc.string({ unit: oddChar, maxLength: 40 });
const validId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,24}$/);
const anyId = fc.oneof(
  validId,
  oddString,
  fc.string({ minLength: 129, maxLength: 400 }),
  fc.constantFrom('', ' ', '.', '..', '%', 'a/b', 'x'.repeat(128), 'x'.repeat(129)),
);
const json = fc.jsonValue({ maxDepth: 4, stringUnit: oddChar });
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 1.5, 2 ** 53, 1e12, 1e12 + 1, 1e308, -0, 2_147_483_648));

/** Payloads near and far from the real ones. */
const payload = fc.oneof(
  json,
  fc.record({ amount: fc.oneof(number, json) }, { requiredKeys: [] }),
  fc.record({ currency: fc.oneof(oddString, fc.constantFrom('USD', 'usd', 'EURO')) }, { requiredKeys: [] }),
  fc.record({ to: anyId, amount: number }, { requiredKeys: [] }),
  fc.record({ accountId: anyId, orderId: anyId, amount: number }, { requiredKeys: [] }),
  fc.dictionary(oddString, json, { maxKeys: 5 }),
);

/** Envelopes: each field valid, missing, mistyped or hostile. */
const envelope = fc.record(
  {
    id: fc.oneof(validId, anyId, json),
    type: fc.oneof(fc.constantFrom(...TYPES), oddString, json),
    entityId: fc.oneof(validId, anyId, json),
    expectedVersion: fc.oneof(number, json),
    payload,
    extra: json,
  },
  { requiredKeys: [] },
);

function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** Envelopes that are valid, so the fuzzer also stores commands (and duplicates them) as it goes. */
const validEnvelope = fc.oneof(
  fc.record({ id: validId, type: fc.constant('account.open'), entityId: validId, payload: fc.constantFrom({}, { currency: 'USD' }) }),
  fc.record({
    id: validId,
    type: fc.constantFrom('account.credit', 'account.debit'),
    entityId: validId,
    payload: fc.record({ amount: fc.integer({ min: 1, max: 1e12 }) }),
  }),
  fc.record({
    id: validId,
    type: fc.constant('order.create'),
    entityId: validId,
    expectedVersion: fc.nat({ max: 5 }),
    payload: fc.record({ accountId: validId, amount: fc.integer({ min: 1, max: 1e6 }) }),
  }),
);

/** Bodies as raw text: JSON of the shapes above, broken JSON, and the huge and the deep. */
const body = fc.oneof(
  { weight: 2, arbitrary: validEnvelope.map((value) => JSON.stringify(value)) },
  { weight: 6, arbitrary: envelope.map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: json.map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: envelope.chain((value) => fc.nat({ max: 40 }).map((cut) => JSON.stringify(value).slice(0, cut))) },
  { weight: 1, arbitrary: oddString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      nested(120_000, '[', ']'),
      `{"id":"deep","type":"account.open","entityId":"deep","payload":{"a":${nested(60_000, '{"a":', '}').replace(/\}+$/, (m) => '1' + m)}}}`,
      `{"id":"wide","type":"account.credit","entityId":"w","payload":{${Array.from({ length: 9000 }, (_, i) => `"k${i}":${i}`).join(',')}}}`,
      JSON.stringify({ id: 'huge', type: 'account.open', entityId: 'h', payload: { currency: 'x'.repeat(300_000) } }),
      JSON.stringify({ id: 'big', type: 'account.open', entityId: 'b', payload: { currency: 'x'.repeat(250_000) } }),
      '\uFEFF{"id":"bom","type":"account.open","entityId":"bom"}',
      '{"id":"dup","id":"dup2","type":"account.open","entityId":"d"}',
      '{"__proto__":{"id":"p"},"type":"account.open","entityId":"p"}',
      '{"id":"n","type":"account.credit","entityId":"n","payload":{"amount":1e400}}',
      '',
      'null',
    ),
  },
);

const contentType = fc.oneof(
  { weight: 5, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/problem+json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      'json',
      '',
    ),
  },
);

/** Header values a fetch client can send: bytes 0x20-0xFF, no CR/LF/NUL. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: 60 });

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Sends one case and checks the response; returns how many commands it says it stored. */
async function send(app: NonNullable<System['app']>, c: Case): Promise<void> {
  let request: Request;
  try {
    request = new Request(`http://oncely.test${c.path}`, { method: c.method, headers: c.headers, ...(c.body === undefined ? {} : { body: c.body }) });
  } catch {
    return; // not a request any client could send
  }
  cases++;
  const res = await app.request(request);
  const where = `${c.method} ${c.path.slice(0, 120)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status >= 400) {
    expect(res.headers.get('content-type'), where).toBe('application/problem+json');
    if (c.method !== 'HEAD') {
      const text = await res.text();
      expect(text, where).not.toMatch(LEAK);
      const problem = JSON.parse(text) as Record<string, unknown>;
      expect(problem, where).toMatchObject({ type: expect.any(String), title: expect.any(String), detail: expect.any(String), status: res.status });
      const code = problem['code'] as keyof typeof PROBLEMS;
      expect(PROBLEMS[code]?.status, `${where}: code ${String(code)}`).toBe(res.status);
      if (code === 'invalid_request' || code === 'invalid_payload') expect(Array.isArray(problem['errors']), where).toBe(true);
    }
    return;
  }
  const pathname = new URL(request.url).pathname;
  if (c.method === 'POST' && pathname === '/v1/commands' && res.status === 202 && res.headers.get('idempotent-replayed') === null) accepted++;
  if (c.method === 'POST' && pathname === '/v1/commands/batch' && res.status === 200) {
    const { results } = (await res.json()) as { results: { outcome: string }[] };
    accepted += results.filter((r) => r.outcome === 'accepted').length;
  }
}

const RUNS = { submit: 1200, batch: 300, routes: 1500, headers: 600, auth: 400 };

describe('hostile input', () => {
  it('POST /v1/commands with any body', async () => {
    await fc.assert(
      fc.asyncProperty(body, contentType, async (text, type) => {
        await send(api.app!, { method: 'POST', path: '/v1/commands', headers: type ? { 'content-type': type } : {}, body: text });
      }),
      { numRuns: RUNS.submit },
    );
  });

  it('POST /v1/commands/batch with any list', async () => {
    const batchBody = fc.oneof(
      { weight: 5, arbitrary: fc.array(fc.oneof(validEnvelope, envelope, json), { maxLength: 20 }).map((commands) => JSON.stringify({ commands })) },
      { weight: 1, arbitrary: fc.record({ commands: json, more: json }, { requiredKeys: [] }).map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: body },
      {
        weight: 1,
        arbitrary: fc.constant(JSON.stringify({ commands: Array.from({ length: 1001 }, (_, i) => ({ id: `many-${i}`, type: 'account.open', entityId: `m${i}` })) })),
      },
    );
    await fc.assert(
      fc.asyncProperty(batchBody, async (text) => {
        await send(api.app!, { method: 'POST', path: '/v1/commands/batch', headers: { 'content-type': 'application/json' }, body: text });
      }),
      { numRuns: RUNS.batch },
    );
  });

  it('every route with any method, id and query', async () => {
    const templates = [
      '/v1/commands',
      '/v1/commands/batch',
      '/v1/commands/{id}',
      '/v1/commands/{id}/replay',
      '/v1/dead-letters',
      '/v1/accounts/{id}',
      '/v1/accounts/{id}/ledger',
      '/v1/orders/{id}',
      '/v1/red-packets/{id}',
      '/health/live',
      '/health/ready',
      '/metrics',
      '/openapi.json',
      '/docs',
      '/{id}',
      '/v1/{id}/{id}',
    ];
    const encodedId = fc.oneof(
      anyId.map((id) => encodeURIComponent(id.toWellFormed())),
      fc.constantFrom('%', '%E0%A4%A', '%00', '%2F', '%2e%2e', '..', '%FF%FE', '%uD800', 'a%20b', '%F0%9F%98%80'),
    );
    const queryValue = fc.oneof(
      fc.constantFrom('1', '0', '-1', '1000', '1001', '1.5', 'abc', '', '9'.repeat(30), 'eyJ4IjoxfQ', 'WyIyMDI2LTAxLTAxVDAwOjAwOjAwLjAwMFoiLCJ4Il0'),
      oddString.map((text) => encodeURIComponent(text.toWellFormed())),
    );
    const query = fc.dictionary(fc.constantFrom('limit', 'cursor', 'x', 'limit[]'), queryValue, { maxKeys: 3 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...templates),
        fc.constantFrom('GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
        fc.array(encodedId, { minLength: 2, maxLength: 2 }),
        query,
        fc.option(body, { nil: undefined }),
        async (template, method, [a, b], params, text) => {
          let i = 0;
          const path = template.replaceAll('{id}', () => (i++ === 0 ? a! : b!));
          const search = Object.entries(params)
            .map(([key, value]) => `${key}=${value}`)
            .join('&');
          const hasBody = text !== undefined && method !== 'GET' && method !== 'HEAD';
          await send(api.app!, {
            method,
            path: search ? `${path}?${search}` : path,
            headers: hasBody ? { 'content-type': 'application/json' } : {},
            ...(hasBody ? { body: text } : {}),
          });
        },
      ),
      { numRuns: RUNS.routes },
    );
  });

  it('submission with any Idempotency-Key, If-Match, Prefer and Content-Length', async () => {
    const prefer = fc.oneof(headerValue, fc.constantFrom('wait=0.01', 'wait=0', 'wait=-1', 'wait=31', 'wait=1e9', 'wait=', 'respond-async, wait=0.01', 'wait="0.01"'));
    const ifMatch = fc.oneof(headerValue, fc.constantFrom('"1"', 'W/"1"', '*', '"1", "2"', '"-1"', '"99999999999"', '"0"'));
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          { 'idempotency-key': fc.oneof(headerValue, validId), 'if-match': ifMatch, prefer, 'content-length': fc.nat().map(String), accept: headerValue },
          { requiredKeys: [] },
        ),
        fc.oneof(
          envelope.map((value) => JSON.stringify(value)),
          body,
        ),
        async (headers, text) => {
          const sent: Record<string, string> = { 'content-type': 'application/json' };
          for (const [name, value] of Object.entries(headers)) if (value !== undefined) sent[name] = value;
          // Only an over-limit Content-Length is kept: the limit middleware must refuse it before reading.
          if (Number(sent['content-length']) <= 256 * 1024) delete sent['content-length'];
          await send(api.app!, { method: 'POST', path: '/v1/commands', headers: sent, body: text });
        },
      ),
      { numRuns: RUNS.headers },
    );
  });

  it('any Authorization header against an API with keys', async () => {
    const key = 'fuzz-key-0123456789abcdef';
    const app = createApp({
      registry: createDefaultRegistry(),
      commands: api.commands,
      ...stubReads(),
      ready: () => Promise.resolve(true),
      apiKeys: [key],
    });
    const authorization = fc.oneof(
      headerValue,
      headerValue.map((v) => `Bearer ${v}`),
      fc.constantFrom(`Bearer ${key} `, `Bearer  ${key}`, `Basic ${key}`, `Bearer ${key}x`, `Bearer ${key.toUpperCase()}`, 'Bearer', ''),
    );
    await fc.assert(
      fc.asyncProperty(authorization, fc.constantFrom('/v1/commands/x', '/v1/dead-letters', '/metrics', '/nowhere'), async (value, path) => {
        const before = cases;
        await send(app, { method: 'GET', path, headers: { authorization: value } });
        if (cases === before) return;
        const res = await app.request(path, { headers: { authorization: value } });
        // Only the exact key gets past authentication (the scheme is case-insensitive, RFC 9110 11.1).
        const [, scheme, credentials] = /^(\S+) +(.*)$/.exec(value.trim()) ?? [];
        if (scheme?.toLowerCase() !== 'bearer' || credentials !== key) expect(res.status).toBe(401);
        else expect(res.status).not.toBe(401);
      }),
      { numRuns: RUNS.auth },
    );
  });

  it('wrote exactly the commands it accepted: zero rows for rejected input', async () => {
    const after = await rowCounts();
    expect(after.commands - baseline.commands).toBe(accepted);
    expect(after.jobs - baseline.jobs).toBe(accepted);
    expect(cases).toBeGreaterThan(3000);
  });
});
