// The outbox relay against each real broker in the registry, the same four checks for each (the broker's relay
// kit, src/brokers/<name>/kit.ts, gives the target and a consumer): message id = event id and a strict envelope
// body; per-entity order with two relays at once; a relay SIGKILLed between publish and mark re-publishes the
// same ids and the table marks them once; retention.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewCommand } from '../../src/processor/submit.ts';
import type { System } from '../../src/system.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { FAST_ENV, startTestSystem, waitForAllTerminal, waitUntil } from '../helpers/system.ts';
import { BROKER_NAMES, relayKit } from './kits.ts';
import type { Observer, RelayKit } from '../../src/brokers/kit.ts';
import { startTcpProxy } from '../../src/brokers/tcp-proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface EventRow {
  sequence: number;
  id: string;
  type: string;
  entity_id: string;
  command_id: string;
  payload: Record<string, unknown>;
  sent_at: Date | null;
}

const command = (id: string, type: string, entityId: string, payload: object = {}): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });

/** The four outbox checks against one broker. */
function describeOutbox(name: string, target: () => Promise<RelayKit>): void {
  describe(`outbox relay to ${name}`, () => {
    let db: TestDatabase;
    let api: System;
    let broker: RelayKit;
    let observer: Observer;
    const systems: System[] = [];

    beforeAll(async () => {
      broker = await target();
      db = await createTestDatabase();
      api = await startTestSystem(db.url, {
        roles: { api: true, worker: false },
      });
      observer = await broker.observe();
    });
    afterAll(async () => {
      for (const system of systems) await system.stop();
      await api?.stop();
      await observer?.close();
      await db?.drop();
    });

    const relayEnv = (extra: Record<string, string> = {}) => ({
      ...broker.env,
      RELAY_POLL_INTERVAL_MS: '20',
      ...extra,
    });
    const startRelay = async (extra: Record<string, string> = {}) => {
      const system = await startTestSystem(db.url, {
        roles: { api: false, worker: false, relay: true },
        env: relayEnv(extra),
      });
      systems.push(system);
      return system;
    };
    const stop = async (system: System) => {
      await system.stop();
      systems.splice(systems.indexOf(system), 1);
    };
    const rows = async (where = 'true') =>
      (
        await db.pool.query<EventRow>(
          `SELECT sequence::int AS sequence, id, type, entity_id, command_id, payload, sent_at FROM oncely.outbox_events WHERE ${where} ORDER BY sequence`,
        )
      ).rows;
    const apply = async (commands: NewCommand[]) => {
      await api.commands.submit('anonymous', commands);
      const worker = await startTestSystem(db.url, {
        roles: { api: false, worker: true },
        env: { WORKER_BATCH_SIZE: '20' },
      });
      try {
        await waitForAllTerminal(db.pool);
      } finally {
        await worker.stop();
      }
    };

    it('publishes each event with message id = event id and a strict envelope body; with two relays at once, each entity in stored order', async () => {
      const accounts = Array.from({ length: 6 }, (_, i) => `${name}-acc-${i}`);
      await apply(accounts.map((id) => command(`open-${id}`, 'account.open', id)));
      await apply(accounts.map((id) => command(`fund-${id}`, 'account.credit', id, { amount: 1000 })));
      const typeMap = {
        RELAY_TYPE_MAP: 'account.credited=ledger.record',
        RELAY_BATCH_SIZE: '4',
      };
      const relays = [await startRelay(typeMap), await startRelay(typeMap)];
      // Commands applied while both relays run, in waves: events keep arriving during the claims.
      for (let wave = 0; wave < 4; wave++) {
        await apply(
          accounts.flatMap((id, a) => [
            command(`c-${id}-${wave}-1`, 'account.credit', id, {
              amount: 100 + wave,
            }),
            command(`c-${id}-${wave}-2`, 'account.credit', id, {
              amount: 10 + a,
            }),
            command(`t-${id}-${wave}`, 'account.transfer', id, {
              to: accounts[(a + 1) % accounts.length]!,
              amount: 5,
            }),
          ]),
        );
      }
      await waitUntil(
        () => rows('sent_at IS NULL'),
        (r) => r.length === 0,
        60_000,
        'every event marked sent',
      );
      const stored = await rows();
      // Every command succeeded: 6 funding credits, then per account and wave 2 credits and 2 transfer sides.
      expect((await db.pool.query(`SELECT id FROM oncely.commands WHERE status <> 'succeeded'`)).rows).toEqual([]);
      expect(stored.length).toBe(6 + 6 * 4 * 4);
      const seen = await waitUntil(
        () => observer.seen(),
        (s) => s.length >= stored.length,
        30_000,
        'every message at the broker',
      );
      for (const relay of relays) await stop(relay);

      expect(seen.length).toBe(stored.length);
      expect(new Set(seen.map((m) => m.messageId))).toEqual(new Set(stored.map((r) => r.id)));
      const byId = new Map(stored.map((r) => [r.id, r]));
      for (const message of seen) {
        const row = byId.get(message.messageId)!;
        const body = JSON.parse(message.body) as Record<string, unknown>;
        const wireType = row.type === 'account.credited' ? 'ledger.record' : row.type;
        expect(Object.keys(body).sort()).toEqual(['entityId', 'id', 'payload', 'type']);
        expect(body).toEqual({
          id: row.id,
          type: wireType,
          entityId: row.entity_id,
          payload: row.payload,
        });
        expect(message.routing).toBe(broker.routingOf(wireType));
        expect(message.headers).toMatchObject({
          'oncely-event-type': row.type,
          'oncely-command-id': row.command_id,
          'oncely-sequence': String(row.sequence),
        });
      }
      // Both relays' counters together: every event once.
      let published = 0;
      for (const relay of relays) {
        const metric = await relay.metrics.registry.getSingleMetric('oncely_outbox_events_published_total')!.get();
        published += metric.values.reduce((sum, v) => sum + v.value, 0);
      }
      expect(published).toBe(stored.length);
      // Per entity, the broker holds the events in stored order.
      for (const account of accounts) {
        const arrived = seen
          .map((m) => byId.get(m.messageId)!)
          .filter((r) => r.entity_id === account)
          .map((r) => r.sequence);
        const expected = stored.filter((r) => r.entity_id === account).map((r) => r.sequence);
        expect(arrived).toEqual(expected);
      }
    });

    it('re-publishes with the same ids after a relay is SIGKILLed between publish and mark; the table marks them once', async () => {
      const account = `${name}-kill`;
      await apply([command(`open-${account}`, 'account.open', account)]);
      await apply(
        [1, 2, 3].map((n) =>
          command(`k-${account}-${n}`, 'account.credit', account, {
            amount: n,
          }),
        ),
      );
      const before = (await observer.seen()).length;
      const child = spawn(process.execPath, ['test/brokers/entries/relay-with-pause.ts'], {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          ...FAST_ENV,
          ...relayEnv(),
          DATABASE_URL: db.url,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const paused = await waitUntil(
        () => Promise.resolve(/PAUSED (\[.*\])/.exec(output)),
        (m) => m !== null || child.exitCode !== null,
        60_000,
        'the relay to pause after publishing',
      );
      expect(paused, output).not.toBeNull();
      const ids = JSON.parse(paused![1]!) as string[];
      expect(ids.length).toBe(3);
      await waitUntil(
        () => observer.seen(),
        (s) => s.length >= before + ids.length,
        30_000,
        'the first copies at the broker',
      );
      child.kill('SIGKILL');
      await exited;
      // Killed before the mark: all still unsent.
      expect((await rows(`entity_id = '${account}' AND sent_at IS NULL`)).map((r) => r.id)).toEqual(ids);

      const relay = await startRelay();
      let absorbed = 0;
      try {
        await waitUntil(
          () => rows(`entity_id = '${account}' AND sent_at IS NULL`),
          (r) => r.length === 0,
          30_000,
          'the events marked by the second relay',
        );
        const duplicates = await relay.metrics.registry.getSingleMetric('oncely_outbox_broker_duplicates_total')!.get();
        absorbed = duplicates.values.reduce((sum, v) => sum + v.value, 0);
      } finally {
        await stop(relay);
      }
      // The broker saw every id twice: it kept both copies, or (JetStream, inside its duplicate window,
      // which it may apply for longer than configured) confirmed the second as a duplicate of the first.
      if (broker.name !== 'nats') expect(absorbed).toBe(0);
      const seen = await waitUntil(
        () => observer.seen(),
        (s) => s.length >= before + 2 * ids.length - absorbed,
        30_000,
        'the second copies at the broker',
      );
      const copies = seen.slice(before).map((m) => m.messageId);
      expect(copies.length + absorbed).toBe(2 * ids.length);
      // Same ids, in stored order both times.
      expect(copies.slice(0, ids.length)).toEqual(ids);
      const second = copies.slice(ids.length);
      expect(ids.filter((id) => second.includes(id))).toEqual(second);
      const marked = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.outbox_events WHERE id = ANY($1) AND sent_at IS NOT NULL`, [ids]);
      expect(marked.rows[0]!.n).toBe(ids.length);
    });

    it('survives a lost broker connection: publishes fail while the broker is unreachable, nothing is marked, and everything goes out after it returns', async () => {
      const proxy = await startTcpProxy(broker.port);
      const account = `${name}-flaky`;
      try {
        await apply([command(`open-${account}`, 'account.open', account)]);
        const before = (await observer.seen()).length;
        const relay = await startRelay({
          RELAY_URL: broker.urlVia(proxy.port),
        });
        await apply([command(`f-${account}-1`, 'account.credit', account, { amount: 1 })]);
        await waitUntil(
          () => rows(`entity_id = '${account}' AND sent_at IS NULL`),
          (r) => r.length === 0,
          30_000,
          'the first event sent',
        );
        const connected = proxy.connections();
        expect(connected).toBeGreaterThan(0);

        proxy.down();
        await apply(
          [2, 3, 4].map((n) =>
            command(`f-${account}-${n}`, 'account.credit', account, {
              amount: n,
            }),
          ),
        );
        const failures = async () =>
          (await relay.metrics.registry.getSingleMetric('oncely_outbox_publish_failures_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
        await waitUntil(failures, (n) => n > 0, 30_000, 'a failed publish while the broker is unreachable');
        expect((await rows(`entity_id = '${account}' AND sent_at IS NULL`)).length).toBe(3);
        const lag = (await relay.metrics.registry.getSingleMetric('oncely_outbox_lag_seconds')!.get()).values[0]!.value;
        expect(lag).toBeGreaterThan(0);

        proxy.up();
        await waitUntil(
          () => rows(`entity_id = '${account}' AND sent_at IS NULL`),
          (r) => r.length === 0,
          60_000,
          'the backlog sent after reconnecting',
        );
        await stop(relay);
        expect(proxy.connections()).toBeGreaterThan(connected);
        const stored = await rows(`entity_id = '${account}'`);
        const seen = await waitUntil(
          () => observer.seen(),
          (s) => s.length >= before + stored.length,
          30_000,
          'every message at the broker',
        );
        // Each event at least once, in stored order once duplicates are dropped (a publish confirmed too late may be repeated).
        const arrived = seen
          .slice(before)
          .map((m) => m.messageId)
          .filter((id, i, all) => all.indexOf(id) === i);
        expect(arrived).toEqual(stored.map((r) => r.id));
      } finally {
        await proxy.close();
      }
    });

    it('sweeps sent events past OUTBOX_RETENTION and keeps recent ones; unsent events are published, not swept', async () => {
      const old = await rows(`entity_id LIKE '${name}-acc-%'`);
      expect(old.length).toBeGreaterThan(0);
      await db.pool.query(
        `UPDATE oncely.outbox_events SET sent_at = now() - interval '2 days', created_at = now() - interval '2 days' WHERE entity_id LIKE '${name}-acc-%'`,
      );
      const recent = await rows(`entity_id = '${name}-kill'`);
      const account = `${name}-late`;
      await apply([command(`open-${account}`, 'account.open', account)]);
      await apply([command(`l-${account}`, 'account.credit', account, { amount: 9 })]);
      await db.pool.query(`UPDATE oncely.outbox_events SET created_at = now() - interval '3 days' WHERE entity_id = '${account}'`);
      const before = (await observer.seen()).length;
      const relay = await startRelay({ OUTBOX_RETENTION: '1d' });
      await waitUntil(
        () => rows(`entity_id LIKE '${name}-acc-%'`),
        (r) => r.length === 0,
        30_000,
        'the old sent events swept',
      );
      await waitUntil(
        () => rows(`entity_id = '${account}' AND sent_at IS NULL`),
        (r) => r.length === 0,
        30_000,
        'the late event sent',
      );
      await stop(relay);
      expect((await rows(`entity_id = '${name}-kill'`)).map((r) => r.id)).toEqual(recent.map((r) => r.id));
      const late = await rows(`entity_id = '${account}'`);
      expect(late.length).toBe(1);
      expect((await observer.seen()).slice(before).map((m) => m.messageId)).toEqual([late[0]!.id]);
    });
  });
}

for (const name of BROKER_NAMES) describeOutbox(name, () => relayKit(name));
