// Every duplicate oncely absorbs is counted where it is absorbed (resubmission and in_request at the API,
// redelivery at the worker), every outcome by its type and status, and label values stay bounded whatever
// clients send. A worker process without the API is scraped on METRICS_PORT, with health probes of its own.
import { afterAll, describe, expect, it } from 'vitest';
import { poisonCommand } from '../../chaos/poison.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import type { System } from '../../src/system.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { spawnEntry, waitForAllTerminal, waitForTerminal, waitUntil, type Child } from '../helpers/system.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, sample lines only: `name{label="value",...} value`. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]!] = label[2]!.replaceAll(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const raw = match[3]!;
    samples.push({ name: match[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return samples;
}

/** Reads values out of one scrape. */
class Scrape {
  readonly samples: Sample[];
  constructor(samples: Sample[]) {
    this.samples = samples;
  }
  /** The sum over every series of `name` whose labels include `labels` (0 when there is none). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
  }
  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
  labelValues(name: string, label: string): Set<string> {
    return new Set(this.samples.filter((s) => s.name === name && s.labels[label] !== undefined).map((s) => s.labels[label]!));
  }
}

async function scrapeApp(system: System): Promise<Scrape> {
  const res = await system.app!.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return new Scrape(parseExposition(await res.text()));
}

async function scrapeUrl(url: string): Promise<Scrape> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return new Scrape(parseExposition(await res.text()));
}

const post = (system: System, path: string, body: unknown, headers: Record<string, string> = {}) =>
  system.app!.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('metrics of an api and a worker in one process', () => {
  const registry = createRegistry([...createDefaultRegistry().definitions(), poisonCommand]);
  // Two attempts: a poison command fails once (a handler_error retry) and then ends dead.
  const { db, system } = useTestSystem({ registry, env: { RETRY_LIMIT: '2' } });

  it('counts submissions by type and answer, duplicates by stage and outcomes by type and status', async () => {
    const open = { id: 'm-open', type: 'account.open', entityId: 'ma', payload: {} };
    expect((await post(system, '/v1/commands', open, { prefer: 'wait=10' })).status).toBe(200);
    // The same id and request again: a replay, absorbed as a resubmission.
    const again = await post(system, '/v1/commands', open);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // The same id with another request: a reused key, never a second command.
    expect((await post(system, '/v1/commands', { ...open, entityId: 'other' })).status).toBe(422);

    const credit = { id: 'm-credit', type: 'account.credit', entityId: 'ma', payload: { amount: 100 } };
    const batch = await post(system, '/v1/commands/batch', {
      commands: [
        credit,
        credit, // the same id inside one request: absorbed in_request
        { id: 'm-debit', type: 'account.debit', entityId: 'ma', payload: { amount: 1_000_000 } }, // refused: insufficient funds
        { id: 'm-stale', type: 'account.credit', entityId: 'ma', expectedVersion: 99, payload: { amount: 1 } }, // conflict
        { id: 'm-bad', type: 'account.credit', entityId: 'ma', payload: { amount: 'lots' } }, // rejected at submission
        { id: 'm-poison', type: 'chaos.poison', entityId: 'mp', payload: {} }, // fails twice: dead
      ],
    });
    expect(batch.status).toBe(200);
    const { results } = (await batch.json()) as { results: { outcome: string }[] };
    expect(results.map((r) => r.outcome)).toEqual(['accepted', 'duplicate', 'accepted', 'accepted', 'rejected', 'accepted']);
    await waitForAllTerminal(db.pool, 30_000);
    expect((await waitForTerminal(db.pool, 'm-poison')).status).toBe('dead');

    const m = await scrapeApp(system);
    const submitted = (type: string, answer: string) => m.value('oncely_commands_submitted_total', { type, answer });
    expect(submitted('account.open', 'new')).toBe(1);
    expect(submitted('account.open', 'replay')).toBe(1);
    expect(submitted('account.open', 'reused_key')).toBe(1);
    expect(submitted('account.credit', 'new')).toBe(2);
    expect(submitted('account.credit', 'replay')).toBe(1);
    expect(submitted('account.credit', 'rejected')).toBe(1);
    expect(submitted('account.debit', 'new')).toBe(1);
    expect(submitted('chaos.poison', 'new')).toBe(1);

    expect(m.value('oncely_duplicates_absorbed_total', { stage: 'resubmission' })).toBe(1);
    expect(m.value('oncely_duplicates_absorbed_total', { stage: 'in_request' })).toBe(1);
    expect(m.value('oncely_duplicates_absorbed_total', { stage: 'redelivery' })).toBe(0);

    const outcome = (type: string, status: string) => m.value('oncely_command_outcomes_total', { type, status });
    expect(outcome('account.open', 'succeeded')).toBe(1);
    expect(outcome('account.credit', 'succeeded')).toBe(1);
    expect(outcome('account.credit', 'conflict')).toBe(1);
    expect(outcome('account.debit', 'rejected')).toBe(1);
    expect(outcome('chaos.poison', 'dead')).toBe(1);
    expect(m.value('oncely_command_outcomes_total')).toBe(5);
    expect(m.value('oncely_retries_total', { reason: 'handler_error' })).toBe(1);

    // Five commands ended; the batches applied them and the poison one once more.
    expect(m.value('oncely_submit_to_terminal_seconds_count')).toBe(5);
    expect(m.value('oncely_batch_commands_sum')).toBe(6);
    expect(m.value('oncely_apply_batch_seconds_count')).toBe(m.value('oncely_batch_commands_count'));

    expect(m.value('oncely_queue_depth')).toBe(0);
    expect(m.value('oncely_oldest_queued_seconds')).toBe(0);
    expect(m.value('oncely_dead_letters')).toBe(1);
    expect(m.value('oncely_waiting_requests')).toBe(0);
    expect(m.value('oncely_http_requests_total', { method: 'POST', route: '/v1/commands/batch', status: '200' })).toBe(1);
    // prom-client's process metrics come with every scrape.
    expect(m.has('process_cpu_user_seconds_total')).toBe(true);
    expect(m.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts a job delivered again for an ended command as a redelivery absorbed, not a second outcome', async () => {
    const before = await scrapeApp(system);
    // A second job for an ended command, as a broker replay or an operator's redrive would leave it.
    await db.pool.query(`INSERT INTO pgboss.job (name, data) VALUES ('oncely-commands', '{"clientId":"anonymous","id":"m-open","entityId":"ma"}'::jsonb)`);
    const after = await waitUntil(
      () => scrapeApp(system),
      (m) => m.value('oncely_duplicates_absorbed_total', { stage: 'redelivery' }) === 1,
      30_000,
      'the redelivery to be counted',
    );
    expect(after.value('oncely_command_outcomes_total')).toBe(before.value('oncely_command_outcomes_total'));
    expect(after.value('oncely_submit_to_terminal_seconds_count')).toBe(before.value('oncely_submit_to_terminal_seconds_count'));
  });

  it('keeps label values bounded when a client sends 100 unknown command types', async () => {
    const before = await scrapeApp(system);
    for (let i = 0; i < 100; i++) {
      const res = await post(system, '/v1/commands', { id: `m-x-${i}`, type: `made.up${i}`, entityId: `x${i}`, payload: {} });
      expect(res.status).toBe(400);
    }
    const batch = await post(system, '/v1/commands/batch', {
      commands: Array.from({ length: 100 }, (_, i) => ({ id: `m-y-${i}`, type: `other.made.up${i}`, entityId: 'y' })),
    });
    expect(batch.status).toBe(200);

    const after = await scrapeApp(system);
    const types = after.labelValues('oncely_commands_submitted_total', 'type');
    expect([...types].filter((t) => t !== 'unknown' && !registry.types.includes(t))).toEqual([]);
    const unknown = (m: Scrape) => m.value('oncely_commands_submitted_total', { type: 'unknown', answer: 'rejected' });
    expect(unknown(after) - unknown(before)).toBe(200);
    expect([...after.labelValues('oncely_http_requests_total', 'route')].filter((r) => r.includes('made'))).toEqual([]);
    // Nothing was stored for them.
    expect((await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id LIKE 'm-x-%' OR id LIKE 'm-y-%'`)).rows[0]?.n).toBe(0);
  });
});

describe('metrics of a worker process on METRICS_PORT', () => {
  const { db, system: api } = useTestSystem({ roles: { api: true, worker: false } });
  let worker: Child | undefined;

  afterAll(async () => {
    await worker?.kill('SIGKILL');
  });

  it('shows the backlog at the api, then serves the worker’s outcomes, process metrics and health probes on its own port', async () => {
    const ids = ['w-open-1', 'w-open-2', 'w-open-3'];
    for (const id of ids) expect((await post(api, '/v1/commands', { id, type: 'account.open', entityId: id, payload: {} })).status).toBe(202);
    // No worker yet: the commands wait, and the gauges read from the database say so.
    const backlog = await waitUntil(
      () => scrapeApp(api),
      (m) => m.value('oncely_oldest_queued_seconds') > 0,
      10_000,
      'the oldest queued command to age',
    );
    expect(backlog.value('oncely_queue_depth')).toBe(3);
    expect(backlog.value('oncely_dead_letters')).toBe(0);

    worker = spawnEntry('worker', { DATABASE_URL: db.url, METRICS_PORT: '0' });
    const announced = await waitUntil(
      () => /oncely metrics on (http:\/\/\S+)\/metrics/.exec(worker!.output())?.[1],
      (url) => url !== undefined,
      30_000,
      'the worker to announce its metrics listener',
    );
    const base = announced!;
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);

    for (const id of ids) await waitForTerminal(db.pool, id, 30_000);
    const m = await waitUntil(
      () => scrapeUrl(`${base}/metrics`),
      (s) => s.value('oncely_command_outcomes_total', { type: 'account.open', status: 'succeeded' }) === 3,
      10_000,
      'the worker to count three outcomes',
    );
    expect(m.value('oncely_submit_to_terminal_seconds_count')).toBe(3);
    expect(m.value('oncely_batch_commands_sum')).toBe(3);
    // Submissions are counted where they are answered: at the api, not here.
    expect(m.value('oncely_commands_submitted_total')).toBe(0);
    expect(m.value('oncely_queue_depth')).toBe(0);
    expect(m.has('process_resident_memory_bytes')).toBe(true);

    const atApi = await scrapeApp(api);
    expect(atApi.value('oncely_commands_submitted_total', { type: 'account.open', answer: 'new' })).toBe(3);
    expect(atApi.value('oncely_command_outcomes_total')).toBe(0);

    expect(await worker.kill('SIGTERM')).toBe(0);
  });
});
