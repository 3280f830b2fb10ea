// Every way a request can be refused, pinned byte for byte: status, the headers that matter and the
// problem+json body. The snapshot was recorded before the routes moved to @hono/zod-openapi's validation,
// so it proves the move changed no refusal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import { createApp } from '../../src/http/app.ts';
import type { System } from '../../src/system.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { stubReads } from '../helpers/http.ts';
import { startTestSystem } from '../helpers/system.ts';

let db: TestDatabase;
let system: System;

beforeAll(async () => {
  db = await createTestDatabase();
  system = await startTestSystem(db.url, { roles: { api: true, worker: false } });
});
afterAll(async () => {
  await system?.stop();
  await db?.drop();
});

const JSON_TYPE = { 'content-type': 'application/json' };
const envelope = (fields: Record<string, unknown>) => JSON.stringify({ id: 'r1', type: 'account.open', entityId: 'a1', payload: { currency: 'EUR' }, ...fields });
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });

/** One request per refusal, named. */
const CASES: Record<string, [string, RequestInit]> = {
  'malformed JSON': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: '{"id":' }],
  'empty body': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: '' }],
  'JSON null': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: 'null' }],
  'text/plain': ['/v1/commands', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: envelope({}) }],
  'no content-type': ['/v1/commands', { method: 'POST', body: new Blob([envelope({})]) }],
  'form content-type': ['/v1/commands', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }],
  'too large (content-length)': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ payload: { currency: 'x'.repeat(300_000) } }) }],
  'too large (chunked)': [
    '/v1/commands',
    {
      method: 'POST',
      headers: JSON_TYPE,
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode(' '.repeat(60_000)));
          controller.close();
        },
      }),
      duplex: 'half',
    },
  ],
  'unknown type': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ type: 'account.explode' }) }],
  'type not a string': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ type: 7 }) }],
  'bad payload field': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ type: 'account.credit', payload: { amount: -5 } }) }],
  'payload missing a field': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ type: 'account.credit', payload: {} }) }],
  'payload not an object': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ payload: [1] }) }],
  'payload too deep': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ payload: nested(70) }) }],
  'payload with U+0000': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ payload: { currency: 'E\u0000R' } }) }],
  'unknown envelope field': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ colour: 'red' }) }],
  'bad id': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ id: 'a b' }) }],
  'no id anywhere': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: envelope({ id: undefined }) }],
  'bad Idempotency-Key': ['/v1/commands', { method: 'POST', headers: { ...JSON_TYPE, 'idempotency-key': 'a b' }, body: envelope({ id: undefined }) }],
  'Idempotency-Key mismatch': ['/v1/commands', { method: 'POST', headers: { ...JSON_TYPE, 'idempotency-key': 'other' }, body: envelope({}) }],
  'bad If-Match': ['/v1/commands', { method: 'POST', headers: { ...JSON_TYPE, 'if-match': '*' }, body: envelope({}) }],
  'If-Match disagrees': ['/v1/commands', { method: 'POST', headers: { ...JSON_TYPE, 'if-match': '"3"' }, body: envelope({ expectedVersion: 4 }) }],
  'bad Idempotency-Key and malformed JSON': ['/v1/commands', { method: 'POST', headers: { ...JSON_TYPE, 'idempotency-key': 'a b' }, body: '{' }],
  'bad If-Match and bad envelope': ['/v1/commands', { method: 'POST', headers: { ...JSON_TYPE, 'if-match': 'x' }, body: envelope({ type: 7 }) }],
  'key mismatch and bad payload': [
    '/v1/commands',
    { method: 'POST', headers: { ...JSON_TYPE, 'idempotency-key': 'other' }, body: envelope({ type: 'account.credit', payload: { amount: -5 } }) },
  ],
  'batch not an object': ['/v1/commands/batch', { method: 'POST', headers: JSON_TYPE, body: '[]' }],
  'batch empty': ['/v1/commands/batch', { method: 'POST', headers: JSON_TYPE, body: '{"commands":[]}' }],
  'batch extra field': ['/v1/commands/batch', { method: 'POST', headers: JSON_TYPE, body: '{"commands":[{}],"x":1}' }],
  'batch too long': ['/v1/commands/batch', { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ commands: Array.from({ length: 1001 }, () => 1) }) }],
  'batch malformed JSON': ['/v1/commands/batch', { method: 'POST', headers: JSON_TYPE, body: '{"commands":[' }],
  'batch text/plain': ['/v1/commands/batch', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"commands":[]}' }],
  'batch with only bad items': [
    '/v1/commands/batch',
    {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify({ commands: [null, { id: 'b1', type: 'nope', entityId: 'e' }, { id: 'b2', type: 'account.credit', entityId: 'e', payload: {} }] }),
    },
  ],
  'unknown route': ['/v1/nowhere', {}],
  'unknown route (POST)': ['/nowhere', { method: 'POST' }],
  'wrong method': ['/v1/commands', { method: 'GET' }],
  'wrong method on a read': ['/v1/accounts/a1', { method: 'DELETE' }],
  OPTIONS: ['/v1/commands/x', { method: 'OPTIONS' }],
  'unknown command': ['/v1/commands/nope', {}],
  'command id outside the alphabet': ['/v1/commands/a%20b', {}],
  'command id too long': [`/v1/commands/${'x'.repeat(200)}`, {}],
  'junk Prefer on an unknown command': ['/v1/commands/nope', { headers: { prefer: 'wait=abc, respond-async' } }],
  'replay of an unknown command': ['/v1/commands/nope/replay', { method: 'POST' }],
  'replay of a bad id': ['/v1/commands/a%20b/replay', { method: 'POST' }],
  'dead letters: limit 0': ['/v1/dead-letters?limit=0', {}],
  'dead letters: limit too big': ['/v1/dead-letters?limit=1001', {}],
  'dead letters: limit not a number': ['/v1/dead-letters?limit=ten&cursor=%%%', {}],
  'dead letters: bad cursor': ['/v1/dead-letters?cursor=***', {}],
  'dead letters: unknown cursor': ['/v1/dead-letters?cursor=abc', {}],
  'unknown account': ['/v1/accounts/nope', {}],
  'account id outside the alphabet': ['/v1/accounts/a%20b', {}],
  'account ledger: bad limit': ['/v1/accounts/a1/ledger?limit=-1', {}],
  'account ledger: unknown account': ['/v1/accounts/nope/ledger', {}],
  'unknown docs asset': ['/docs/assets/evil.js', {}],
};

async function answer(app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> }, path: string, init: RequestInit) {
  const res = await app.request(path, init);
  const headers = Object.fromEntries(
    ['content-type', 'allow', 'www-authenticate', 'retry-after'].flatMap((name) => (res.headers.has(name) ? [[name, res.headers.get(name)]] : [])),
  );
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, headers, body };
}

describe('refusals', () => {
  it('answers every invalid request as it always did', async () => {
    const answers: Record<string, unknown> = {};
    for (const [name, [path, init]] of Object.entries(CASES)) answers[name] = await answer(system.app!, path, init);
    await expect(JSON.stringify(answers, null, 2) + '\n').toMatchFileSnapshot('./__snapshots__/http-refusals.json');
  });

  it('answers missing keys, unknown keys and missing scopes as it always did', async () => {
    const app = createApp({
      registry: createDefaultRegistry(),
      commands: system.commands,
      ...stubReads(),
      ready: () => Promise.resolve(true),
      apiKeys: [
        'bare-key-0123456789',
        { client: 'reader', key: 'read-key-0123456789', scopes: ['read'] },
        { client: 'ops', key: 'ops-key-0123456789', scopes: ['operate'] },
      ],
    });
    const as = (key: string, init: RequestInit = {}) => ({ ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${key}` } });
    const cases: Record<string, [string, RequestInit]> = {
      'no key': ['/v1/commands/x', {}],
      'unknown key': ['/v1/commands/x', as('nope')],
      'Basic scheme': ['/v1/commands/x', { headers: { authorization: 'Basic bare-key-0123456789' } }],
      'no key, unknown route': ['/nowhere', {}],
      'no key, bad body': ['/v1/commands', { method: 'POST', headers: JSON_TYPE, body: '{' }],
      'read key submits': ['/v1/commands', as('read-key-0123456789', { method: 'POST', headers: JSON_TYPE, body: envelope({}) })],
      'read key submits junk': ['/v1/commands', as('read-key-0123456789', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{' })],
      'read key batches': ['/v1/commands/batch', as('read-key-0123456789', { method: 'POST', headers: JSON_TYPE, body: '{}' })],
      'read key replays': ['/v1/commands/x/replay', as('read-key-0123456789', { method: 'POST' })],
      'read key lists dead letters': ['/v1/dead-letters?limit=0', as('read-key-0123456789')],
      'read key reads stats': ['/v1/stats', as('read-key-0123456789')],
      'ops key reads a command': ['/v1/commands/a%20b', as('ops-key-0123456789')],
      'ops key reads an account': ['/v1/accounts/a1', as('ops-key-0123456789')],
      'ops key, stats without a reader': ['/v1/stats', as('ops-key-0123456789')],
      'ops key, wrong method': ['/v1/dead-letters', as('ops-key-0123456789', { method: 'POST' })],
    };
    const answers: Record<string, unknown> = {};
    for (const [name, [path, init]] of Object.entries(cases)) answers[name] = await answer(app, path, init);
    await expect(JSON.stringify(answers, null, 2) + '\n').toMatchFileSnapshot('./__snapshots__/http-refusals-keys.json');
  });
});
