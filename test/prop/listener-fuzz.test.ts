// Every listener oncely opens survives any request: thousands of random request lines, methods, targets and
// headers, sent over raw sockets to a real api process (the API on PORT, served by @hono/node-server) and to its
// metrics listener (METRICS_PORT, a raw node:http server). After them both still answer, no answer was a 5xx,
// and the process never died. Seen before the fix: one `GET //a:b` killed a worker with METRICS_PORT.
import fc from 'fast-check';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { spawnEntry, waitUntil, type Child } from '../helpers/system.ts';

let db: TestDatabase;
let api: Child;
let apiPort: number;
let metricsPort: number;

const status = (url: string) =>
  fetch(url).then(
    (r) => r.status,
    () => 0,
  );

beforeAll(async () => {
  db = await createTestDatabase();
  apiPort = await freePort();
  metricsPort = await freePort();
  api = spawnEntry('api', { DATABASE_URL: db.url, PORT: String(apiPort), METRICS_PORT: String(metricsPort) });
  await waitUntil(
    () => status(`http://127.0.0.1:${metricsPort}/health/live`),
    (s) => s === 200,
    60_000,
    'the metrics listener',
  );
  await waitUntil(
    () => status(`http://127.0.0.1:${apiPort}/health/live`),
    (s) => s === 200,
    60_000,
    'the api',
  );
});
afterAll(async () => {
  await api?.kill('SIGKILL');
  await db?.drop();
});

/** Sends raw bytes, returns the status line's code (0: no answer before the socket closed or `ms` passed). */
function send(port: number, bytes: Buffer, ms = 1500): Promise<number> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      resolve(match ? Number(match[1]) : 0);
    };
    const timer = setTimeout(done, ms);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done();
    });
    socket.on('connect', () => socket.write(bytes));
  });
}

const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const anyByteText = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const method = fc.oneof(
  fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'get', 'PRI', 'M-SEARCH'),
  printable,
  anyByteText,
);
const target = fc.oneof(
  fc.constantFrom(
    '//a:b',
    '//',
    '*',
    '/metrics',
    '/health/live',
    '/health/ready',
    'http://x/metrics',
    'http://[::1',
    'https://a:b@c:99999/',
    '/%',
    '/%zz',
    '/..//..',
    '\\',
    '/metrics?%%%',
    '/v1/commands',
    '/v1/commands/%00',
    '/v1/accounts/a/../../x',
    'ftp://x/y',
    'x:y',
  ),
  printable.map((text) => `/${text}`),
  printable.map((text) => `//${text}`),
  printable,
  anyByteText,
);
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 extra', '', 'http/1.1');
const header = fc.oneof(
  fc.tuple(
    fc.constantFrom('Host', 'Content-Length', 'Transfer-Encoding', 'Authorization', 'Prefer', 'Content-Type', 'Expect', 'Connection', 'Upgrade'),
    fc.oneof(printable, fc.constantFrom('-1', '99999999999999999999', 'chunked', 'chunked, chunked', '100-continue', 'wait=1', 'websocket', 'Bearer x')),
  ),
  fc.tuple(printable, anyByteText),
);
const request = fc.oneof(
  { weight: 8, arbitrary: fc.record({ method, target, version, headers: fc.array(header, { maxLength: 6 }), body: fc.option(anyByteText, { nil: undefined }) }) },
  { weight: 1, arbitrary: anyByteText.map((raw) => ({ raw })) },
);

type Fuzzed = { raw?: string; method?: string; target?: string; version?: string; headers?: [string, string][]; body?: string | undefined };

function bytesOf(req: Fuzzed): Buffer {
  if (req.raw !== undefined) return Buffer.from(req.raw, 'latin1');
  const lines = [`${req.method} ${req.target} ${req.version}`, ...(req.headers ?? []).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${req.body ?? ''}`, 'latin1');
}

const RUNS = 1500;

describe('every listener survives any request', () => {
  for (const which of ['metrics', 'api'] as const) {
    it(`${which}: ${RUNS} random requests over raw sockets, then it still answers`, async () => {
      const port = which === 'metrics' ? metricsPort : apiPort;
      const seed = Date.now() % 2 ** 31;
      const requests: Fuzzed[] = fc.sample(request, { numRuns: RUNS, seed });
      // The target that killed a worker, first, alone.
      const first = await send(port, Buffer.from('GET //a:b HTTP/1.1\r\nHost: x\r\n\r\n'));
      expect(first >= 400 && first < 500, `answered ${first}`).toBe(true);
      expect(await send(port, Buffer.from('GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(400);
      const codes: number[] = [];
      for (let i = 0; i < requests.length; i += 50) {
        codes.push(...(await Promise.all(requests.slice(i, i + 50).map((r) => send(port, bytesOf(r))))));
        expect(api.process.exitCode, `the process died (seed ${seed}); output:\n${api.output()}`).toBeNull();
      }
      const serverErrors = codes.filter((code) => code >= 500);
      expect(serverErrors, `5xx answers (seed ${seed})`).toEqual([]);
      // Most requests were answered at all (a 400 counts): the listener did not just go silent.
      expect(codes.filter((code) => code > 0).length).toBeGreaterThan(RUNS / 2);
      expect(await status(`http://127.0.0.1:${port}/health/live`)).toBe(200);
      expect(await status(`http://127.0.0.1:${port}/metrics`)).toBe(200);
      expect(api.process.exitCode).toBeNull();
    });
  }
});
