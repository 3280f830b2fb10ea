// The broker side of a chaos run: a publisher per broker (RabbitMQ, NATS JetStream, Redis Streams) that feeds
// part of the workload to the inbox processes, names unique to the run, the outcome of a broker-fed command
// read straight from the database (the client never gets an answer from a broker), the dead-letter paths
// read back at the end, the inbox's own broker connections cut on demand, and cleanup.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import pg from 'pg';
import { createClient } from 'redis';
import { rabbitDeadLetterNames } from '../src/inbox/rabbitmq.ts';
import { natsDeadLetterNames } from '../src/inbox/nats.ts';
import { redisDeadLetterStream } from '../src/inbox/redis.ts';
import type { Envelope, History, SeenStatus } from './history.ts';

const sh = promisify(execFile);

export const BROKER_NAMES = ['rabbitmq', 'nats', 'redis'] as const;
export type BrokerName = (typeof BROKER_NAMES)[number];

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
  /** Closes the given inbox processes' own connections from the broker's side; returns how many were closed. */
  cut(broker: 'rabbitmq' | 'redis', pids: readonly number[]): Promise<number>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Connects a publisher to each broker and declares the run's queue and streams as the inbox would, so that
 * nothing published before an inbox is up is lost.
 *
 * @example
 * const feed = await createBrokerFeed({ brokers: ['redis'], databaseUrl, history });
 * await feed.publish('redis', { id: 'c1', type: 'account.open', entityId: 'a1', payload: {} }, Date.now() + 60_000);
 */
export async function createBrokerFeed(options: { brokers: readonly BrokerName[]; databaseUrl: string; history: History; hostname: string }): Promise<BrokerFeed> {
  const { brokers, history } = options;
  const suffix = randomBytes(4).toString('hex');
  const queue = `oncely.chaos.${suffix}`;
  const natsStream = `ONCELY_CHAOS_${suffix}`;
  const natsSubject = `oncely.chaos.${suffix}`;
  const redisStream = `oncely:chaos:${suffix}`;
  const clientIds: Record<BrokerName, string> = { rabbitmq: `rabbitmq:${queue}`, nats: `nats:${natsStream}`, redis: `redis:${redisStream}` };
  const env: Record<string, string> = {};
  const closers: (() => Promise<unknown>)[] = [];
  const publishers = new Map<BrokerName, (envelope: string, key: string | undefined) => Promise<void>>();
  const deadReaders: (() => Promise<DeadLetterSeen[]>)[] = [];
  const pendingReaders: (() => Promise<[string, number]>)[] = [];
  let cutRedis: ((names: readonly string[]) => Promise<number>) | undefined;

  if (brokers.includes('rabbitmq')) {
    const url = 'amqp://guest:guest@127.0.0.1:5672';
    const dead = rabbitDeadLetterNames(queue);
    const connection = await amqp.connect(url, { clientProperties: { connection_name: `oncely-chaos-publisher-${suffix}` } });
    connection.on('error', () => {});
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => {});
    await channel.assertExchange(dead.exchange, 'fanout', { durable: true });
    await channel.assertQueue(dead.queue, { durable: true });
    await channel.bindQueue(dead.queue, dead.exchange, '');
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-dead-letter-exchange': dead.exchange } });
    Object.assign(env, { INBOX_RABBITMQ_URL: url, INBOX_RABBITMQ_QUEUE: queue });
    publishers.set(
      'rabbitmq',
      (body, key) =>
        new Promise<void>((resolve, reject) =>
          channel.sendToQueue(queue, Buffer.from(body), { persistent: true, ...(key ? { messageId: key } : {}) }, (err: unknown) =>
            err ? reject(err instanceof Error ? err : new Error('publish not confirmed')) : resolve(),
          ),
        ),
    );
    deadReaders.push(async () => {
      const letters: DeadLetterSeen[] = [];
      for (let i = 0; i < 100_000; i++) {
        const message = await channel.get(dead.queue, { noAck: false });
        if (!message) break;
        const h = message.properties.headers ?? {};
        letters.push({ broker: 'rabbitmq', key: (message.properties.messageId as string | undefined) ?? undefined, reason: h['x-oncely-reason'] as string | undefined });
      }
      await channel.recover();
      return letters;
    });
    pendingReaders.push(async () => {
      const info = await channel.checkQueue(queue);
      return ['rabbitmq', info.messageCount];
    });
    closers.push(async () => {
      await channel.deleteQueue(queue).catch(() => {});
      await channel.deleteQueue(dead.queue).catch(() => {});
      await channel.deleteExchange(dead.exchange).catch(() => {});
      await connection.close().catch(() => {});
    });
  }

  if (brokers.includes('nats')) {
    const dead = natsDeadLetterNames(natsStream);
    const nc = await connect({ servers: '127.0.0.1:4222', name: `oncely-chaos-publisher-${suffix}` });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    // As the inbox creates it (2-minute duplicate window), so the workload may publish before the inbox is up.
    await jsm.streams.add({ name: natsStream, subjects: [natsSubject], duplicate_window: 120_000_000_000 });
    Object.assign(env, { INBOX_NATS_URL: 'nats://127.0.0.1:4222', INBOX_NATS_STREAM: natsStream, INBOX_NATS_SUBJECT: natsSubject, INBOX_NATS_CONSUMER: 'chaos-inbox' });
    publishers.set('nats', async (body, key) => {
      const h = headers();
      if (key) h.set('Nats-Msg-Id', key);
      await js.publish(natsSubject, body, { headers: h, timeout: 5000 });
    });
    deadReaders.push(async () => {
      const letters: DeadLetterSeen[] = [];
      const info = await jsm.streams.info(dead.stream).catch(() => undefined);
      for (let seq = info?.state.first_seq ?? 1; info && seq <= info.state.last_seq; seq++) {
        const message = await jsm.streams.getMessage(dead.stream, { seq }).catch(() => null);
        if (!message) continue;
        letters.push({ broker: 'nats', key: message.header.get('Oncely-Msg-Id') || undefined, reason: message.header.get('Oncely-Reason') || undefined });
      }
      return letters;
    });
    pendingReaders.push(async () => {
      const info = await jsm.consumers.info(natsStream, 'chaos-inbox');
      return ['nats', info.num_pending + info.num_ack_pending];
    });
    closers.push(async () => {
      await jsm.streams.delete(natsStream).catch(() => {});
      await jsm.streams.delete(dead.stream).catch(() => {});
      await nc.close().catch(() => {});
    });
  }

  if (brokers.includes('redis')) {
    const client = createClient({ url: 'redis://127.0.0.1:6379', name: `oncely-chaos-publisher-${suffix}` });
    client.on('error', () => {});
    await client.connect();
    cutRedis = async (names) => {
      const ids = (await client.clientList()).filter((c) => names.includes(String(c.name))).map((c) => String(c.id));
      for (const id of ids) await client.sendCommand(['CLIENT', 'KILL', 'ID', id]).catch(() => {});
      return ids.length;
    };
    await client.xGroupCreate(redisStream, 'oncely', '0', { MKSTREAM: true });
    const dead = redisDeadLetterStream(redisStream);
    Object.assign(env, { INBOX_REDIS_URL: 'redis://127.0.0.1:6379', INBOX_REDIS_STREAM: redisStream, INBOX_REDIS_GROUP: 'oncely' });
    publishers.set('redis', async (body, key) => {
      await client.xAdd(redisStream, '*', { envelope: body, ...(key ? { id: key } : {}) });
    });
    deadReaders.push(async () => {
      const entries = await client.xRange(dead, '-', '+');
      return (entries ?? []).map(({ message }) => ({ broker: 'redis' as const, key: message['id'], reason: message['reason'] }));
    });
    pendingReaders.push(async () => {
      const groups = await client.xInfoGroups(redisStream);
      const info = groups.find((g) => String(g.name) === 'oncely');
      return ['redis', Number(info?.pending ?? NaN) + Number(info?.lag ?? 0)];
    });
    closers.push(async () => {
      await client.del([redisStream, dead]).catch(() => {});
      await client.close().catch(() => {});
    });
  }

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
    const send = publishers.get(broker);
    if (!send) throw new Error(`broker ${broker} is not part of this run`);
    await send(body, key);
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
      const all = await Promise.all(deadReaders.map((read) => read()));
      return all.flat();
    },
    async pending() {
      const all = await Promise.all(pendingReaders.map((read) => read().catch((): [string, number] => ['?', NaN])));
      return Object.fromEntries(all);
    },
    async cut(broker, pids) {
      // The inbox names its connections `oncely-inbox-<hostname>-<pid>`: only those of our own processes are closed.
      const names = pids.map((pid) => `oncely-inbox-${options.hostname}-${pid}`);
      if (broker === 'redis') return cutRedis ? cutRedis(names) : 0;
      const { stdout } = await sh('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties']);
      const connectionPids = stdout
        .split('\n')
        .filter((line) => names.some((name) => line.includes(`"${name}"`)))
        .map((line) => line.split(/\s+/)[0] ?? '')
        .filter((pid) => pid.startsWith('<'));
      for (const pid of connectionPids) await sh('rabbitmqctl', ['-q', 'close_connection', pid, 'oncely chaos: broker cut']).catch(() => {});
      return connectionPids.length;
    },
    async close() {
      for (const list of waiting.values()) for (const w of list) w.resolve(undefined);
      waiting.clear();
      await polling;
      await pool.end().catch(() => {});
      for (const close of closers.splice(0)) await close().catch(() => {});
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
