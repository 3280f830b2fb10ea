// End to end through each real broker: one oncely's outbox relay feeds another oncely's inbox. The sender
// credits accounts (each credit emits `account.credited`, renamed on the wire to the receiver's own command
// type `ledger.record` by RELAY_TYPE_MAP); its relay is SIGKILLed between publishing and marking, so a
// second relay publishes the same events again with the same ids. The receiver must end with exactly one
// command and one effect per event: the duplicates are absorbed by the inbox (or, for JetStream inside its
// duplicate window, by the broker itself).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { defineDomain } from '../../src/core/domain.ts';
import { Amount } from '../../src/core/envelope.ts';
import { succeeded } from '../../src/core/outcome.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import type { System } from '../../src/system.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { FAST_ENV, startTestSystem, waitForAllTerminal, waitUntil } from '../helpers/system.ts';
import { BROKER_NAMES, brokerKit } from './kits.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// ---- the receiver's own domain: one row per event it was told about ----

const RECEIVED_DDL = `CREATE TABLE received_credits (
  event_id text NOT NULL,
  account_id text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0)
)`; // no unique key on purpose: a second effect of one event would show as a second row

const recordCredit = defineCommand({
  type: 'ledger.record',
  summary: 'Records a credit another service announced',
  // The sender's account.credited payload.
  payload: z.strictObject({ amount: Amount, currency: z.string(), balance: z.number().int(), version: z.number().int() }),
  async handle({ sql, command }) {
    await sql.query('INSERT INTO received_credits (event_id, account_id, amount) VALUES ($1, $2, $3)', [command.id, command.entityId, command.payload.amount]);
    return succeeded({ recorded: command.payload.amount });
  },
});
const receiverDomain = defineDomain({ name: 'receiver', commands: [recordCredit], tables: {}, reads: [] });

const command = (id: string, type: string, entityId: string, payload: object = {}): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

function startPausingRelay(env: Record<string, string>) {
  let output = '';
  const child = spawn(process.execPath, ['test/brokers/entries/relay-with-pause.ts'], {
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
  return { output: () => output, exitCode: () => child.exitCode, kill };
}

async function counter(system: System, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await system.metrics.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value)).reduce((sum, v) => sum + v.value, 0);
}

describe.each(BROKER_NAMES)('outbox to inbox through %s', (broker) => {
  it('delivers every event once to the other oncely, absorbing the re-publication after a relay SIGKILL between publish and mark', async () => {
    const kit = await brokerKit(broker);
    cleanups.push(() => kit.cleanup());
    // The sender's relay publishes where the kit's inbox consumes, its event type renamed to the receiver's command.
    const relayEnv = { ...kit.relayEnv, RELAY_TYPE_MAP: 'account.credited=ledger.record' };
    const inboxEnv = kit.env;

    const sender = await createTestDatabase();
    cleanups.push(() => sender.drop());
    const receiver = await createTestDatabase();
    cleanups.push(() => receiver.drop());
    await receiver.pool.query(RECEIVED_DDL);

    // The receiver: its own domain, a worker and the inbox.
    const inbox = await startTestSystem(receiver.url, { roles: { api: false, worker: true, inbox: true }, domains: [receiverDomain], env: inboxEnv });
    cleanups.push(() => inbox.stop());

    // The sender: accounts credited by its own worker; every credit stores one account.credited event.
    const api = await startTestSystem(sender.url, { roles: { api: true, worker: true } });
    cleanups.push(() => api.stop());
    const accounts = [0, 1, 2].map((i) => `${broker}-e2e-${randomBytes(3).toString('hex')}-${i}`);
    await api.commands.submit(
      'anonymous',
      accounts.map((id) => command(`open-${id}`, 'account.open', id)),
    );
    await waitForAllTerminal(sender.pool);
    await api.commands.submit(
      'anonymous',
      accounts.flatMap((id) => [1, 2, 3, 4].map((n) => command(`credit-${id}-${n}`, 'account.credit', id, { amount: 100 * n }))),
    );
    await waitForAllTerminal(sender.pool);
    const events = (
      await sender.pool.query<{ id: string; entity_id: string; amount: string }>(
        `SELECT id, entity_id, payload->>'amount' AS amount FROM oncely.outbox_events WHERE type = 'account.credited' ORDER BY sequence`,
      )
    ).rows;
    expect(events).toHaveLength(12);

    // A relay that publishes its first round, then stops before marking it sent: SIGKILL it there.
    const pausing = startPausingRelay({ ...relayEnv, DATABASE_URL: sender.url });
    const paused = await waitUntil(
      () => /PAUSED (\[.*\])/.exec(pausing.output()),
      (m) => m !== null || pausing.exitCode() !== null,
      60_000,
      'the relay to pause between publish and mark',
    );
    expect(paused, pausing.output()).not.toBeNull();
    const published = JSON.parse(paused![1]!) as string[];
    expect(published.length).toBeGreaterThan(0);
    await pausing.kill();
    const unsent = await sender.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM oncely.outbox_events WHERE id = ANY($1) AND sent_at IS NULL', [published]);
    expect(unsent.rows[0]?.n).toBe(published.length);

    // A second relay publishes everything, the killed relay's events again, with the same ids.
    const relay = await startTestSystem(sender.url, { roles: { api: false, worker: false, relay: true }, env: { ...relayEnv, RELAY_POLL_INTERVAL_MS: '20' } });
    cleanups.push(() => relay.stop());
    await waitUntil(
      async () => (await sender.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM oncely.outbox_events WHERE sent_at IS NULL')).rows[0]?.n,
      (n) => n === 0,
      60_000,
      'every event marked sent',
    );

    // The receiver ends with one command and one effect per event.
    const received = await waitUntil(
      async () =>
        (
          await receiver.pool.query<{ event_id: string; account_id: string; amount: string }>(
            'SELECT event_id, account_id, amount::text FROM received_credits ORDER BY event_id',
          )
        ).rows,
      (rows) => rows.length >= events.length,
      60_000,
      'the receiver to record every event',
    );
    await waitForAllTerminal(receiver.pool);
    const final = (
      await receiver.pool.query<{ event_id: string; account_id: string; amount: string }>(
        'SELECT event_id, account_id, amount::text FROM received_credits ORDER BY event_id',
      )
    ).rows;
    expect(final).toHaveLength(received.length);
    expect(final.map((r) => r.event_id)).toEqual(events.map((e) => e.id).toSorted());
    for (const event of events) expect(final.find((r) => r.event_id === event.id)).toMatchObject({ account_id: event.entity_id, amount: event.amount });
    const commands = await receiver.pool.query<{ n: number; ok: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'succeeded')::int AS ok FROM oncely.commands WHERE client_id = $1`,
      [kit.clientId],
    );
    expect(commands.rows[0]).toEqual({ n: events.length, ok: events.length });

    // The duplicates were really there, and absorbed: by the inbox, or by JetStream's own duplicate window.
    // The second copies may still be arriving after the first ones were recorded: wait for them (bounded).
    const absorbed = async () => ({
      inbox: await counter(inbox, 'oncely_inbox_deliveries_total', { result: 'duplicate' }),
      broker: await counter(relay, 'oncely_outbox_broker_duplicates_total'),
    });
    const { inbox: byInbox, broker: byBroker } = await waitUntil(
      absorbed,
      (a) => a.inbox + a.broker >= published.length,
      30_000,
      'the re-published copies to be absorbed',
    ).catch(() => absorbed());
    if (broker === 'nats') expect(byInbox + byBroker).toBeGreaterThanOrEqual(published.length);
    else expect(byInbox).toBeGreaterThanOrEqual(published.length);
    // And absorbing them changed nothing.
    expect((await receiver.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM received_credits')).rows[0]?.n).toBe(events.length);
  });
});
