// Guarantee 10 per broker (RabbitMQ, NATS JetStream, Redis Streams), against the real brokers: a message is
// acknowledged only after its command row and job are committed; the same message twice makes one command
// and one effect; an invalid one lands on the broker's dead-letter path with its reason and stores nothing;
// a PostgreSQL outage and a cut broker connection lose nothing and apply nothing twice.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startChaosPostgres, type ChaosPostgres } from '../../chaos/postgres.ts';
import { freePort } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/log.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { startSystem, type System } from '../../src/system.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { FAST_ENV, readStatus, startTestSystem, testConfig, waitForTerminal, waitUntil } from '../helpers/system.ts';
import { inboxKit as natsKit } from '../../src/brokers/nats/kit.ts';
import { BROKER_NAMES, brokerKit, TEST_KIT, type BrokerKit, type BrokerName } from './kits.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUR_CONNECTIONS = `oncely-inbox-${hostname()}-${process.pid}`;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function useKit(name: BrokerName): Promise<BrokerKit> {
  const kit = await brokerKit(name);
  cleanups.push(() => kit.cleanup());
  return kit;
}

async function useDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}

async function useSystem(start: () => Promise<System>): Promise<System> {
  const system = await start();
  cleanups.push(() => system.stop());
  return system;
}

/** oncely_inbox_deliveries_total{result} of one system. */
async function delivered(system: System, result: string): Promise<number> {
  const metric = system.metrics.registry.getSingleMetric('oncely_inbox_deliveries_total');
  const values = metric ? (await metric.get()).values : [];
  return values.filter((v) => v.labels['result'] === result).reduce((sum, v) => sum + v.value, 0);
}

const tag = () => randomBytes(3).toString('hex');
const open = (account: string) => ({ id: `${account}-open`, type: 'account.open', entityId: account, payload: {} });
const credit = (account: string, n: number, amount: number) => ({ id: `${account}-credit-${n}`, type: 'account.credit', entityId: account, payload: { amount } });

async function publishEnvelope(kit: BrokerKit, envelope: { id: string }, withKey = true) {
  return kit.publish(JSON.stringify(envelope), withKey ? { key: envelope.id } : {});
}

/** Publishes the account's open and waits until a worker applied it, so no credit can overtake it. */
async function openAccount(kit: BrokerKit, pool: TestDatabase['pool'], account: string): Promise<void> {
  await publishEnvelope(kit, open(account));
  expect((await waitForTerminal(pool, open(account).id, 30_000, kit.clientId)).status).toBe('succeeded');
}

async function notSucceeded(pool: TestDatabase['pool'], clientId: string) {
  const { rows } = await pool.query<{ id: string; status: string; error: unknown }>(
    `SELECT id, status, error FROM oncely.commands WHERE client_id = $1 AND status <> 'succeeded'`,
    [clientId],
  );
  return rows;
}

async function commandCount(pool: TestDatabase['pool'], clientId: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM oncely.commands WHERE client_id = $1', [clientId]);
  return rows[0]?.n ?? -1;
}

async function account(pool: TestDatabase['pool'], id: string): Promise<{ balance: number; ledgerRows: number }> {
  const { rows } = await pool.query<{ balance: string; rows: number }>(
    'SELECT a.balance::text AS balance, (SELECT count(*)::int FROM ledger_entries l WHERE l.account_id = a.id) AS rows FROM accounts a WHERE a.id = $1',
    [id],
  );
  return { balance: Number(rows[0]?.balance ?? NaN), ledgerRows: rows[0]?.rows ?? -1 };
}

async function waitForNoCommandsQueued(pool: TestDatabase['pool'], clientId: string, timeoutMs = 60_000) {
  await waitUntil(
    async () =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE client_id = $1 AND status IN ('queued', 'retrying')`, [clientId])).rows[0]
        ?.n,
    (n) => n === 0,
    timeoutMs,
    'every command to end',
  );
}

function spawnInbox(env: Record<string, string>) {
  let output = '';
  const child = spawn(process.execPath, ['test/brokers/entries/inbox-with-pause.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...FAST_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(kill);
  return { output: () => output, kill };
}

async function scrape(port: number, result: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const line = text.split('\n').find((l) => l.startsWith('oncely_inbox_deliveries_total{') && l.includes(`result="${result}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe.each(BROKER_NAMES)('inbox: %s', (broker) => {
  it('makes one command and one effect of a message published twice', async () => {
    const kit = await useKit(broker);
    const db = await useDatabase();
    const system = await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true, inbox: true }, env: kit.env }));
    const a = `acct-${tag()}`;
    await openAccount(kit, db.pool, a);
    await publishEnvelope(kit, credit(a, 1, 700));
    const again = await publishEnvelope(kit, credit(a, 1, 700));
    // JetStream drops a re-published Nats-Msg-Id inside its duplicate window; the copy without the header
    // (the id in the body only) reaches the inbox and is absorbed there.
    if (broker === 'nats') expect(again.duplicate).toBe(true);
    await publishEnvelope(kit, credit(a, 1, 700), false);
    const duplicates = broker === 'nats' ? 1 : 2;

    await waitUntil(
      async () => [await delivered(system, 'accepted'), await delivered(system, 'duplicate')],
      ([acc, dup]) => acc === 2 && dup === duplicates,
      30_000,
      'the deliveries',
    );
    expect((await waitForTerminal(db.pool, credit(a, 1, 0).id, 30_000, kit.clientId)).status).toBe('succeeded');
    expect(await commandCount(db.pool, kit.clientId)).toBe(2);
    expect(await account(db.pool, a)).toEqual({ balance: 700, ledgerRows: 1 });
    expect(await delivered(system, 'dead_lettered')).toBe(0);
    await waitUntil(
      () => kit.pending(),
      (n) => n === 0,
      30_000,
      'the broker to hold nothing',
    );
  });

  it('redelivers a message whose inbox was killed after the commit and before the ack, and applies it once', async () => {
    const kit = await useKit(broker);
    const db = await useDatabase();
    await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true } }));
    const a = `acct-${tag()}`;
    const victim = credit(a, 1, 250);
    const first = spawnInbox({ DATABASE_URL: db.url, ...kit.env, INBOX_REDIS_CONSUMER: 'first', ONCELY_TEST_PAUSE_AFTER_COMMIT: victim.id });
    await openAccount(kit, db.pool, a);
    await publishEnvelope(kit, victim);
    await waitUntil(
      () => Promise.resolve(first.output()),
      (out) => out.includes(`paused-after-commit ${victim.id}`),
      60_000,
      'the inbox to pause after the commit',
    );
    // Committed, not acked: the row is there and the broker still holds the message.
    expect(await readStatus(db.pool, victim.id, kit.clientId)).not.toBeNull();
    expect(await kit.pending()).toBeGreaterThanOrEqual(1);
    await first.kill();

    const port = await freePort();
    // Another consumer name for Redis: the killed one's pending entry is taken over by XAUTOCLAIM once idle.
    spawnInbox({ DATABASE_URL: db.url, ...kit.env, INBOX_REDIS_CONSUMER: 'second', METRICS_PORT: String(port) });
    await waitUntil(
      () => scrape(port, 'duplicate'),
      (n) => n >= 1,
      60_000,
      'the redelivered message to be absorbed as a duplicate',
    );
    expect(await scrape(port, 'accepted')).toBe(0);
    expect((await waitForTerminal(db.pool, victim.id, 30_000, kit.clientId)).status).toBe('succeeded');
    expect(await commandCount(db.pool, kit.clientId)).toBe(2);
    expect(await account(db.pool, a)).toEqual({ balance: 250, ledgerRows: 1 });
    await waitUntil(
      () => kit.pending(),
      (n) => n === 0,
      30_000,
      'the broker to hold nothing',
    );
  });

  it('dead-letters invalid messages with their reason and stores nothing of them', async () => {
    const kit = await useKit(broker);
    const db = await useDatabase();
    const system = await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true, inbox: true }, env: kit.env }));
    const a = `acct-${tag()}`;
    await publishEnvelope(kit, open(a));
    await waitUntil(
      () => delivered(system, 'accepted'),
      (n) => n === 1,
      30_000,
      'the valid message',
    );

    await kit.publish('{"id": "broken", ', { key: `broken-${a}` });
    await kit.publish(JSON.stringify({ id: `${a}-x`, type: 'account.explode', entityId: a, payload: {} }), { key: `${a}-x` });
    await kit.publish(JSON.stringify({ id: `${a}-body`, type: 'account.credit', entityId: a, payload: { amount: 5 } }), { key: `${a}-header` });
    // The id of the stored command with another request (for NATS in the body only: JetStream itself would drop a
    // re-used Nats-Msg-Id inside its duplicate window).
    await kit.publish(JSON.stringify({ ...open(a), payload: { currency: 'USD' } }), broker === 'nats' ? {} : { key: open(a).id });
    await waitUntil(
      () => delivered(system, 'dead_lettered'),
      (n) => n === 4,
      30_000,
      'four dead letters',
    );

    const letters = await waitUntil(
      () => kit.deadLetters(),
      (l) => l.length === 4,
      10_000,
      'the dead-letter path',
    );
    expect(letters.map((l) => l.reason).sort()).toEqual(['idempotency_key_mismatch', 'idempotency_key_reused', 'invalid_request', 'unknown_command_type']);
    expect(letters.every((l) => typeof l.detail === 'string' && l.detail.length > 0)).toBe(true);
    expect(letters.find((l) => l.reason === 'invalid_request')?.body).toBe('{"id": "broken", ');
    expect(await commandCount(db.pool, kit.clientId)).toBe(1);
    expect((await readStatus(db.pool, open(a).id, kit.clientId))?.type).toBe('account.open');
    await waitUntil(
      () => kit.pending(),
      (n) => n === 0,
      30_000,
      'the broker to hold nothing',
    );
  });

  it('dead-letters what can never be stored (a value PostgreSQL refuses, an oversized body, a deep payload) and keeps consuming', async () => {
    const kit = await useKit(broker);
    const db = await useDatabase();
    // A value PostgreSQL refuses, deterministically: retrying it would hold the message (and a prefetch slot) forever.
    await db.pool.query(`ALTER TABLE oncely.commands ADD CONSTRAINT oncely_test_refused CHECK (id NOT LIKE '%-refused')`);
    const system = await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true, inbox: true }, env: kit.env }));
    const a = `acct-${tag()}`;
    await openAccount(kit, db.pool, a);

    await publishEnvelope(kit, { ...credit(a, 1, 5), id: `${a}-refused` });
    await kit.publish(JSON.stringify({ ...credit(a, 2, 5), payload: { amount: 5, pad: 'x'.repeat(300 * 1024) } }), { key: credit(a, 2, 5).id });
    // 10,000 levels: JSON.parse takes it, a recursive walk (a schema, the fingerprint's canonical JSON) would overflow.
    const deep = `${'['.repeat(10_000)}1${']'.repeat(10_000)}`;
    await kit.publish(JSON.stringify({ ...credit(a, 3, 5), payload: { amount: 5, deep: 0 } }).replace('"deep":0', `"deep":${deep}`), { key: credit(a, 3, 5).id });
    await publishEnvelope(kit, credit(a, 4, 7));

    const letters = await waitUntil(
      () => kit.deadLetters(),
      (l) => l.length === 3,
      60_000,
      'three dead letters',
    );
    const byReason = new Map(letters.map((l) => [l.reason, l]));
    expect([...byReason.keys()].sort()).toEqual(['invalid_payload', 'payload_too_large', 'unstorable']);
    // Said without SQL or a stack: the SQLSTATE only.
    expect(byReason.get('unstorable')?.detail).toMatch(/SQLSTATE 23514/);
    expect(byReason.get('unstorable')?.detail).not.toMatch(/CHECK|commands|oncely_test_refused|\n\s+at /);
    expect(byReason.get('invalid_payload')?.detail).toMatch(/nests deeper than 64/);
    expect((JSON.parse(byReason.get('unstorable')!.body) as { id: string }).id).toBe(`${a}-refused`);
    expect((await waitForTerminal(db.pool, credit(a, 4, 7).id, 30_000, kit.clientId)).status).toBe('succeeded');
    expect(await account(db.pool, a)).toEqual({ balance: 7, ledgerRows: 1 });
    expect(await commandCount(db.pool, kit.clientId)).toBe(2);
    expect(await delivered(system, 'dead_lettered')).toBe(3);
    await waitUntil(
      () => kit.pending(),
      (n) => n === 0,
      30_000,
      'the broker to hold nothing',
    );
  });

  it('loses and acks nothing while PostgreSQL is down, then applies every message once', async () => {
    const kit = await useKit(broker);
    const dir = await mkdtemp(path.join(tmpdir(), 'oncely-inbox-pg-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const pg: ChaosPostgres = await startChaosPostgres({ dir: path.join(dir, 'pg'), log: () => {} });
    cleanups.push(() => pg.stop());
    const config = testConfig(pg.url, { ...kit.env, RECONCILE_INTERVAL_SECONDS: '2', INBOX_NATS_MAX_DELIVER: '2', INBOX_REDIS_MAX_DELIVERIES: '2' });
    const system = await useSystem(() =>
      startSystem({ config, roles: { api: false, worker: true, inbox: true }, log: createLogger('silent', 'test'), domains: referenceDomains }),
    );
    const pool = system.pool;

    const a = `acct-${tag()}`;
    await openAccount(kit, pool, a);
    for (let n = 1; n <= 10; n++) await publishEnvelope(kit, credit(a, n, n));
    await waitUntil(
      () => delivered(system, 'accepted'),
      (n) => n === 11,
      30_000,
      'the first messages',
    );

    await pg.crash();
    for (let n = 11; n <= 30; n++) await publishEnvelope(kit, credit(a, n, n));
    await waitUntil(
      () => delivered(system, 'retried'),
      (n) => n >= 2,
      30_000,
      'the inbox to retry',
    );
    // Longer than the ack wait (NATS) and the claim idle time (Redis): the held deliveries must be extended
    // meanwhile, or JetStream redelivers them and XAUTOCLAIM counts (and dead-letters) them.
    await new Promise((resolve) => setTimeout(resolve, broker === 'rabbitmq' ? 1500 : 20_000));
    // Nothing committed, so nothing acked: the broker still holds every message published during the outage.
    expect(await delivered(system, 'accepted')).toBe(11);
    expect(await kit.pending()).toBeGreaterThanOrEqual(20);

    await pg.start();
    await waitUntil(
      () => delivered(system, 'accepted'),
      (n) => n === 31,
      60_000,
      'every message after the outage',
    );
    await waitUntil(
      () => kit.pending(),
      (n) => n === 0,
      30_000,
      'the broker to hold nothing',
    );
    const db = { pool } as unknown as TestDatabase;
    await waitForNoCommandsQueued(db.pool, kit.clientId, 90_000);
    expect(await commandCount(db.pool, kit.clientId)).toBe(31);
    expect(await notSucceeded(db.pool, kit.clientId)).toEqual([]);
    expect(await account(db.pool, a)).toEqual({ balance: (30 * 31) / 2, ledgerRows: 30 });
    // Held, not redelivered: no second copy came back as a duplicate, none was dead-lettered.
    expect(await delivered(system, 'duplicate')).toBe(0);
    expect(await kit.deadLetters()).toEqual([]);
  });

  it('rides through a forced close of its broker connection', async () => {
    const kit = await useKit(broker);
    const db = await useDatabase();
    const system = await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true, inbox: true }, env: kit.env }));
    const a = `acct-${tag()}`;
    await openAccount(kit, db.pool, a);
    for (let n = 1; n <= 20; n++) await publishEnvelope(kit, credit(a, n, 10));
    // Cut while those are in hand, then publish more.
    expect(await kit.cutConnections(OUR_CONNECTIONS)).toBeGreaterThanOrEqual(1);
    for (let n = 21; n <= 40; n++) await publishEnvelope(kit, credit(a, n, 10));

    await waitUntil(
      () => commandCount(db.pool, kit.clientId),
      (n) => n === 41,
      60_000,
      'every command stored',
    );
    await waitUntil(
      () => kit.pending(),
      (n) => n === 0,
      60_000,
      'the broker to hold nothing',
    );
    await waitForNoCommandsQueued(db.pool, kit.clientId);
    expect(await notSucceeded(db.pool, kit.clientId)).toEqual([]);
    expect(await account(db.pool, a)).toEqual({ balance: 400, ledgerRows: 40 });
    expect(await delivered(system, 'dead_lettered')).toBe(0);
    expect((await delivered(system, 'accepted')) + (await delivered(system, 'duplicate'))).toBeGreaterThanOrEqual(41);
  });
});

describe('inbox: nats max_deliver', () => {
  it('copies a message JetStream stopped delivering (max_deliver reached) to the dead-letter stream', async () => {
    const kit = await useKit('nats');
    const db = await useDatabase();
    await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true } }));
    const a = `acct-${tag()}`;
    const victim = credit(a, 1, 90);
    const env = { DATABASE_URL: db.url, ...kit.env, INBOX_NATS_MAX_DELIVER: '2', ONCELY_TEST_PAUSE_AFTER_COMMIT: victim.id };
    // Two inbox lives that each take the message and are killed before the ack: the second delivery is the last one.
    const first = spawnInbox(env);
    await openAccount(kit, db.pool, a);
    await publishEnvelope(kit, victim);
    await waitUntil(
      () => Promise.resolve(first.output()),
      (out) => out.includes(`paused-after-commit ${victim.id}`),
      60_000,
      'the first delivery',
    );
    await first.kill();
    const second = spawnInbox(env);
    await waitUntil(
      () => Promise.resolve(second.output()),
      (out) => out.includes(`paused-after-commit ${victim.id}`),
      60_000,
      'the second delivery',
    );

    // A held delivery's deadline is extended while its inbox lives: killed, its ack wait runs out, JetStream
    // gives up on it and says so, and a live inbox copies it to <stream>_DEAD.
    await second.kill();
    spawnInbox({ DATABASE_URL: db.url, ...kit.env, INBOX_NATS_MAX_DELIVER: '2' });
    const letters = await waitUntil(
      () => kit.deadLetters(),
      (l) => l.length === 1,
      60_000,
      'the dead letter',
    );
    expect(letters[0]!.reason).toBe('too_many_deliveries');
    expect((JSON.parse(letters[0]!.body) as { id: string }).id).toBe(victim.id);
    expect(await kit.pending()).toBe(0);
    // It was committed by the first delivery, once.
    expect(await commandCount(db.pool, kit.clientId)).toBe(2);
    expect((await waitForTerminal(db.pool, victim.id, 30_000, kit.clientId)).status).toBe('succeeded');
  });
});

describe('inbox: nats consumer deleted', () => {
  it('declares its consumer again when it is deleted under it, and applies what is published next', async () => {
    const kit = await natsKit(TEST_KIT);
    cleanups.push(() => kit.cleanup());
    const db = await useDatabase();
    await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true, inbox: true }, env: kit.env }));
    const a = `acct-${tag()}`;
    await openAccount(kit, db.pool, a);
    await kit.deleteConsumer();
    await publishEnvelope(kit, credit(a, 1, 40));
    expect((await waitForTerminal(db.pool, credit(a, 1, 40).id, 60_000, kit.clientId)).status).toBe('succeeded');
    expect(await account(db.pool, a)).toEqual({ balance: 40, ledgerRows: 1 });
    expect(await commandCount(db.pool, kit.clientId)).toBe(2);
  });
});

describe('inbox: rabbitmq dead letters', () => {
  it('keeps a dead letter whose original had an expiration (the copy does not inherit it)', async () => {
    const kit = await useKit('rabbitmq');
    const db = await useDatabase();
    await useSystem(() => startTestSystem(db.url, { roles: { api: false, worker: true, inbox: true }, env: kit.env }));
    await kit.publish('not json', { key: `expiring-${tag()}`, expiration: '3000' });
    await waitUntil(
      () => kit.deadLetters(),
      (l) => l.length === 1,
      30_000,
      'the dead letter',
    );
    // Past the original's expiration: a copy that inherited it would be gone from the dead-letter queue.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const letters = await kit.deadLetters();
    expect(letters.map((l) => [l.reason, l.body])).toEqual([['invalid_request', 'not json']]);
  });
});
