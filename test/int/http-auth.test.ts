// API keys: every route but /health/* needs a valid Bearer key; each key is a client with its own command
// ids, blind to the others' commands; keys are never stored nor logged.
import { describe, expect, it } from 'vitest';
import { createReferenceClient as createClient } from '../../src/client/reference.ts';
import { clientIdOf } from '../../src/http/app.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { spawnEntry, waitForTerminal, waitUntil } from '../helpers/system.ts';

const ALPHA = 'alpha-key-0123456789abcdef';
const BRAVO = 'bravo-key-0123456789abcdef';

const { db, system } = useTestSystem({ env: { API_KEYS: `${ALPHA}, ${BRAVO}` } });

const request = (path: string, init: RequestInit = {}) => Promise.resolve(system.app!.request(path, init));
const clientWith = (apiKey: string) => createClient({ baseUrl: 'http://oncely.test', apiKey, fetch: (url, init) => request(url, init) });

describe('API keys', () => {
  it('answers 401 unauthorized with WWW-Authenticate: Bearer without a valid key, on every route but health', async () => {
    const body = JSON.stringify({ id: 'x', type: 'account.open', entityId: 'x' });
    const attempts: [string, RequestInit][] = [
      ['/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json' }, body }],
      ['/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ALPHA}x` }, body }],
      ['/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${ALPHA}` }, body }],
      ['/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json', authorization: ALPHA }, body }],
      ['/v1/commands/x', { headers: { authorization: 'Bearer ' } }],
      ['/v1/commands/x', { headers: { authorization: `Bearer ${ALPHA.slice(0, -1)}` } }],
      ['/v1/commands/batch', { method: 'POST' }],
      ['/v1/dead-letters', {}],
      ['/v1/accounts/a', {}],
      ['/openapi.json', {}],
      ['/docs', {}],
      ['/metrics', {}],
      ['/no/such/route', {}],
    ];
    for (const [path, init] of attempts) {
      const res = await request(path, init);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(((await res.json()) as { code: string }).code).toBe('unauthorized');
    }
    expect((await request('/health/live')).status).toBe(200);
    expect((await request('/health/ready')).status).toBe(200);
    expect((await request('/openapi.json', { headers: { authorization: `Bearer ${ALPHA}` } })).status).toBe(200);
    expect((await request('/openapi.json', { headers: { authorization: `bearer ${BRAVO}` } })).status).toBe(200);
  });

  it('keeps command ids per client: the same id from two clients is two commands', async () => {
    const alpha = clientWith(ALPHA);
    const bravo = clientWith(BRAVO);
    const a = await alpha.submit({ id: 'shared-id', type: 'account.open', entityId: 'alpha-acc', payload: {} });
    const b = await bravo.submit({ id: 'shared-id', type: 'account.open', entityId: 'bravo-acc', payload: {} });
    expect([a.replayed, b.replayed]).toEqual([false, false]);
    await waitForTerminal(db.pool, 'shared-id', 30_000, clientIdOf(ALPHA));
    await waitForTerminal(db.pool, 'shared-id', 30_000, clientIdOf(BRAVO));
    expect((await alpha.get('shared-id'))?.entityId).toBe('alpha-acc');
    expect((await bravo.get('shared-id'))?.entityId).toBe('bravo-acc');
    expect((await alpha.account('alpha-acc'))?.balance).toBe(0);
    expect((await bravo.account('bravo-acc'))?.balance).toBe(0);
  });

  it("answers 404 for another client's command, for reads, waits and replays alike", async () => {
    const alpha = clientWith(ALPHA);
    const bravo = clientWith(BRAVO);
    await alpha.submit({ id: 'alpha-only', type: 'account.open', entityId: 'alpha-only', payload: {} });
    expect(await bravo.get('alpha-only')).toBeNull();
    expect(await bravo.get('alpha-only', { wait: 1 })).toBeNull();
    const replay = await request('/v1/commands/alpha-only/replay', { method: 'POST', headers: { authorization: `Bearer ${BRAVO}` } });
    expect(replay.status).toBe(404);
    expect((await bravo.deadLetters()).items).toEqual([]);
    expect((await alpha.get('alpha-only'))?.id).toBe('alpha-only');
  });

  it('stores a digest of the key as the client id, never the key', async () => {
    const { rows } = await db.pool.query<{ client_id: string }>(`SELECT DISTINCT client_id FROM oncely.commands ORDER BY client_id`);
    expect(rows.map((row) => row.client_id)).toEqual([clientIdOf(ALPHA), clientIdOf(BRAVO)].sort());
    for (const { client_id } of rows) expect(client_id).not.toContain('0123456789abcdef');
  });

  it('never writes a key to the log, even at trace level (a real api process)', async () => {
    const api = spawnEntry('api', { DATABASE_URL: db.url, PORT: '0', API_KEYS: `${ALPHA},${BRAVO}`, LOG_LEVEL: 'trace' });
    try {
      const line = await waitUntil(
        () => /listening on (http:\/\/\S+)/.exec(api.output())?.[1],
        (url) => url !== undefined,
        30_000,
        'the api to listen',
      );
      const base = line!;
      const headers = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });
      expect(
        (
          await fetch(`${base}/v1/commands`, {
            method: 'POST',
            headers: headers(ALPHA),
            body: JSON.stringify({ id: 'logged', type: 'account.open', entityId: 'logged' }),
          })
        ).status,
      ).toBe(202);
      expect((await fetch(`${base}/v1/commands/logged`, { headers: headers(`${BRAVO}-wrong`) })).status).toBe(401);
      expect((await fetch(`${base}/v1/commands`, { method: 'POST', headers: headers(BRAVO), body: '{' })).status).toBe(400);
      expect(await api.kill('SIGTERM')).toBe(0);
      expect(api.output()).not.toContain('0123456789abcdef');
    } finally {
      await api.kill();
    }
  });
});
