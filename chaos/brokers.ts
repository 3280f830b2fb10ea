// The broker side of a chaos run: a kit per broker of the registry (src/brokers/<name>/kit.ts) that feeds part of
// the workload to the inbox processes, with names unique to the run; the outcome of a broker-fed command read
// straight from the database (the client never gets an answer from a broker), the dead-letter paths read back
// at the end, the inbox's own broker connections cut on demand, and cleanup.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createClient } from 'redis';
import type { InboxKit } from '../src/brokers/kit.ts';
import { BROKER_NAMES, brokerNamed, type BrokerName } from '../src/brokers/registry.ts';
import type { Envelope, History, SeenStatus } from './history.ts';

export { BROKER_NAMES, type BrokerName };

/** A dead letter as read back: the message's key (its broker-side id) and the reason the inbox gave. */
export interface DeadLetterSeen {
  broker: BrokerName;
  key: string | undefined;
  reason: string | undefined;
}

/** A message that must end in the dead-letter path, never as a command. */
export interface Garbage {
  broker: BrokerName;
  key: string;
  kind: 'not-json' | 'unknown-type';
  published: boolean;
}

export interface BrokerFeed {
  readonly brokers: readonly BrokerName[];
  /** The INBOX_* variables of every inbox process (without the per-process Redis consumer name). */
  readonly env: Record<string, string>;
  /** The client id each broker's commands are stored under (the inbox's default: `<broker>:<queue or stream>`). */
  readonly clientIds: Readonly<Record<BrokerName, string>>;
  /**
   * Publishes the envelope (key = its id) to the broker and records a `publish` operation: ok once the broker
   * confirmed it (RabbitMQ confirm, JetStream PubAck, XADD reply), unknown if it did not answer. Re-publishes an
   * unconfirmed message until confirmed or the deadline passes.
   */
  publish(broker: BrokerName, envelope: Envelope, deadline: number): Promise<boolean>;
  /** Polls the command's row under the broker's client id until it is terminal or the deadline passes. */
  outcome(broker: BrokerName, id: string, deadline: number): Promise<SeenStatus | undefined>;
  /** Publishes a few more messages per broker that must be dead-lettered (bad JSON, an unknown type). */
  publishGarbage(perBroker: number): Promise<Garbage[]>;
  garbage(): readonly Garbage[];
  deadLetters(): Promise<DeadLetterSeen[]>;
  /** Messages the brokers still hold for the inbox (not acknowledged), per broker. */
  pending(): Promise<Record<string, number>>;
  /** Closes the given inbox processes' own connections from the broker's side; returns how many were closed (NATS: none, it has no way). */
  cut(broker: BrokerName, pids: readonly number[]): Promise<number>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens a kit on each broker, which declares the run's queue or stream as the inbox would, so that nothing
 * published before an inbox is up is lost.
 *
 * @example
 * const feed = await createBrokerFeed({ brokers: ['redis'], databaseUrl, history });
 * await feed.publish('redis', { id: 'c1', type: 'account.open', entityId: 'a1', payload: {} }, Date.now() + 60_000);
 */
export async function createBrokerFeed(options: { brokers: readonly BrokerName[]; databaseUrl: string; history: History; hostname: string }): Promise<BrokerFeed> {
  const { brokers, history } = options;
  const kits = new Map<BrokerName, InboxKit>();
  for (const broker of brokers) kits.set(broker, await (await brokerNamed(broker).kits()).inboxKit({ label: 'chaos' }));
  const env = Object.fromEntries([...kits.values()].flatMap((kit) => Object.entries(kit.env)));
  // The run's brokers only.
  const clientIds = Object.fromEntries([...kits].map(([broker, kit]) => [broker, kit.clientId])) as Record<BrokerName, string>;

  // --- Outcomes: one query per tick for every command a client is waiting on, straight from the database
  // (the broker gives the publisher no answer). Named like the checker, so terminate sweeps leave it alone.
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2, application_name: 'oncely-chaos-checker' });
  pool.on('error', () => {});
  const waiting = new Map<string, { broker: BrokerName; id: string; resolve: (seen: SeenStatus | undefined) => void; deadline: number }[]>();
  let polling: Promise<void> | undefined;
  const poll = async () => {
    while (waiting.size > 0) {
      await sleep(200);
      const keys = [...waiting.keys()];
      const rows = await pool
        .query<{ key: string; status: string; result: unknown; error: { code: string } | null }>(
          `SELECT client_id || ' ' || id AS key, status, result, error FROM oncely.commands
            WHERE (client_id || ' ' || id) = ANY($1) AND status IN ('succeeded', 'rejected', 'conflict', 'dead')`,
          [keys],
        )
        .then(
          (r) => r.rows,
          () => [],
        );
      const found = new Map(rows.map((row) => [row.key, row]));
      const now = Date.now();
      for (const key of keys) {
        const row = found.get(key);
        const list = waiting.get(key) ?? [];
        const keep = list.filter((w) => {
          if (row) w.resolve({ status: row.status, result: row.result ?? null, error: row.error ? { code: row.error.code } : null });
          else if (now > w.deadline) w.resolve(undefined);
          else return true;
          return false;
        });
        if (keep.length > 0) waiting.set(key, keep);
        else waiting.delete(key);
      }
    }
    polling = undefined;
  };

  const garbage: Garbage[] = [];
  const publishRaw = async (broker: BrokerName, body: string, key: string | undefined) => {
    const kit = kits.get(broker);
    if (!kit) throw new Error(`broker ${broker} is not part of this run`);
    await kit.publish(body, key ? { key } : {});
  };

  return {
    brokers,
    env,
    clientIds,
    async publish(broker, envelope, deadline) {
      const body = JSON.stringify(envelope);
      for (;;) {
        const invokedAt = Date.now();
        try {
          await publishRaw(broker, body, envelope.id);
          history.record({ id: envelope.id, kind: 'publish', invokedAt, completedAt: Date.now(), outcome: 'ok' });
          return true;
        } catch (err) {
          history.record({ id: envelope.id, kind: 'publish', invokedAt, completedAt: Date.now(), outcome: 'unknown', error: (err as Error).message.slice(0, 200) });
          if (Date.now() > deadline) return false;
          await sleep(500);
        }
      }
    },
    outcome(broker, id, deadline) {
      return new Promise((resolve) => {
        const key = `${clientIds[broker]} ${id}`;
        waiting.set(key, [...(waiting.get(key) ?? []), { broker, id, resolve, deadline }]);
        polling ??= poll();
      });
    },
    async publishGarbage(perBroker) {
      for (const broker of brokers) {
        const first = garbage.filter((item) => item.broker === broker).length;
        for (let i = first; i < first + perBroker; i++) {
          const kind = i % 2 === 0 ? 'not-json' : 'unknown-type';
          const key = `garbage-${broker}-${i}`;
          const body = kind === 'not-json' ? `{"id":"${key}", not json` : JSON.stringify({ id: key, type: 'chaos.nonexistent', entityId: 'x', payload: {} });
          const item: Garbage = { broker, key, kind, published: false };
          garbage.push(item);
          for (let attempt = 0; attempt < 10 && !item.published; attempt++) {
            item.published = await publishRaw(broker, body, key).then(
              () => true,
              () => false,
            );
            if (!item.published) await sleep(500);
          }
        }
      }
      return garbage;
    },
    garbage: () => garbage,
    async deadLetters() {
      const all = await Promise.all([...kits].map(async ([broker, kit]) => (await kit.deadLetters()).map(({ key, reason }) => ({ broker, key, reason }))));
      return all.flat();
    },
    async pending() {
      const all = await Promise.all(
        [...kits].map(([broker, kit]) =>
          kit.pending().then(
            (n): [string, number] => [broker, n],
            (): [string, number] => ['?', NaN],
          ),
        ),
      );
      return Object.fromEntries(all);
    },
    async cut(broker, pids) {
      // The inbox names its connections `oncely-inbox-<hostname>-<pid>`: only those of our own processes are closed.
      return (await kits.get(broker)?.cutConnections(...pids.map((pid) => `oncely-inbox-${options.hostname}-${pid}`))) ?? 0;
    },
    async close() {
      for (const list of waiting.values()) for (const w of list) w.resolve(undefined);
      waiting.clear();
      await polling;
      await pool.end().catch(() => {});
      for (const kit of kits.values()) await kit.cleanup().catch(() => {});
    },
  };
}

/** An event as the relay published it to the run's Redis stream, in stream order. */
export interface PublishedEvent {
  id: string;
  entityId: string | undefined;
}

export interface EventCollector {
  /** The RELAY_* variables of the relay process. */
  readonly env: Record<string, string>;
  /** Every entry of the events stream, in stream (publish) order, duplicates included. */
  read(): Promise<PublishedEvent[]>;
  /** Deletes the stream. */
  close(): Promise<void>;
}

/**
 * The harness's consumer of the relay's events: a Redis stream of the run's own, read at the end.
 *
 * @example
 * const events = await createEventCollector();
 * const published = await events.read();
 */
export async function createEventCollector(): Promise<EventCollector> {
  const stream = `oncely:chaos:${randomBytes(4).toString('hex')}:events`;
  const client = createClient({ url: 'redis://127.0.0.1:6379', name: 'oncely-chaos-events' });
  client.on('error', () => {});
  await client.connect();
  return {
    env: { RELAY_BROKER: 'redis', RELAY_URL: 'redis://127.0.0.1:6379', RELAY_STREAM: stream },
    async read() {
      const events: PublishedEvent[] = [];
      let from = '-';
      for (let page = 0; page < 10_000; page++) {
        const entries = (await client.xRange(stream, from, '+', { COUNT: 1000 })) ?? [];
        for (const { id, message } of entries) {
          if (id === from) continue;
          const envelope = (() => {
            try {
              return JSON.parse(message['envelope'] ?? '') as { entityId?: string };
            } catch {
              return {};
            }
          })();
          events.push({ id: message['id'] ?? '', entityId: envelope.entityId });
        }
        if (entries.length < 1000) break;
        from = entries[entries.length - 1]?.id ?? '+';
      }
      return events;
    },
    async close() {
      await client.del(stream).catch(() => {});
      await client.close().catch(() => {});
    },
  };
}
