// One small kit per broker for the inbox tests: names unique to the test, a publisher, readers for the
// dead-letter path and the work still pending, a way to cut the inbox's own connection, and cleanup.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { createClient } from 'redis';
import { rabbitDeadLetterNames } from '../../src/inbox/rabbitmq.ts';
import { natsDeadLetterNames } from '../../src/inbox/nats.ts';
import { redisDeadLetterStream } from '../../src/inbox/redis.ts';

const run = promisify(execFile);

export type BrokerName = 'rabbitmq' | 'nats' | 'redis';

export interface DeadLetter {
  reason: string | undefined;
  detail: string | undefined;
  body: string;
}

export interface PublishOptions {
  /** The broker-side id: AMQP message_id, Nats-Msg-Id, the entry's `id` field. */
  key?: string;
  /** RabbitMQ only: the message's expiration (per-message TTL, ms as text). */
  expiration?: string;
}

export interface BrokerKit {
  name: BrokerName;
  /** The INBOX_* variables that point an inbox at this test's queue or stream. */
  env: Record<string, string>;
  /** The client id the inbox stores this test's commands under. */
  clientId: string;
  publish(body: string, options?: PublishOptions): Promise<{ duplicate?: boolean }>;
  deadLetters(): Promise<DeadLetter[]>;
  /** Messages the broker still holds for the inbox (not yet acknowledged). */
  pending(): Promise<number>;
  /** Closes the inbox's connections from the broker's side (or through the proxy in front of it). */
  cutConnections(connectionName: string): Promise<number>;
  cleanup(): Promise<void>;
}

const suffix = () => randomBytes(4).toString('hex');

export async function rabbitKit(): Promise<BrokerKit> {
  const queue = `oncely.test.${suffix()}`;
  const dead = rabbitDeadLetterNames(queue);
  const model = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  const channel = await model.createConfirmChannel();
  // Declared as the inbox declares them, so publishing before the inbox starts loses nothing.
  await channel.assertExchange(dead.exchange, 'fanout', { durable: true });
  await channel.assertQueue(dead.queue, { durable: true });
  await channel.bindQueue(dead.queue, dead.exchange, '');
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-dead-letter-exchange': dead.exchange } });
  return {
    name: 'rabbitmq',
    env: { INBOX_RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672', INBOX_RABBITMQ_QUEUE: queue, INBOX_RABBITMQ_PREFETCH: '20' },
    clientId: `rabbitmq:${queue}`,
    async publish(body, options = {}) {
      await new Promise<void>((resolve, reject) =>
        channel.sendToQueue(
          queue,
          Buffer.from(body),
          { persistent: true, ...(options.key ? { messageId: options.key } : {}), ...(options.expiration ? { expiration: options.expiration } : {}) },
          (err: unknown) => (err ? reject(err instanceof Error ? err : new Error('publish not confirmed')) : resolve()),
        ),
      );
      return {};
    },
    async deadLetters() {
      const letters: DeadLetter[] = [];
      for (;;) {
        const message = await channel.get(dead.queue, { noAck: false });
        if (!message) break;
        const h = message.properties.headers ?? {};
        letters.push({ reason: h['x-oncely-reason'] as string | undefined, detail: h['x-oncely-detail'] as string | undefined, body: message.content.toString() });
      }
      // Not acked: closing the channel puts them back, so a second read sees them again.
      await channel.recover();
      return letters;
    },
    async pending() {
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'messages']);
      const line = stdout.split('\n').find((l) => l.split(/\s+/)[0] === queue);
      return Number(line?.split(/\s+/)[1] ?? NaN);
    },
    async cutConnections(connectionName) {
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties']);
      const pids = stdout
        .split('\n')
        .filter((line) => line.includes(connectionName))
        .map((line) => line.split(/\s+/)[0]!)
        .filter((pid) => pid.startsWith('<'));
      for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'oncely test: forced close']);
      return pids.length;
    },
    async cleanup() {
      await channel.deleteQueue(queue).catch(() => {});
      await channel.deleteQueue(dead.queue).catch(() => {});
      await channel.deleteExchange(dead.exchange).catch(() => {});
      await model.close().catch(() => {});
    },
  };
}

/** A plain loopback TCP forwarder whose connections the test can cut (NATS has no "kill this client" command). */
export async function startTcpProxy(targetPort: number): Promise<{ port: number; cut(): number; close(): Promise<void> }> {
  const links = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const link: [net.Socket, net.Socket] = [client, upstream];
    links.add(link);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('proxy has no port');
  return {
    port: address.port,
    cut() {
      const n = links.size;
      for (const [client, upstream] of [...links]) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      return n;
    },
    async close() {
      for (const [client, upstream] of [...links]) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function natsKit(): Promise<BrokerKit & { deleteConsumer(): Promise<void> }> {
  const stream = `ONCELY_T_${suffix()}`;
  const subject = `oncely.test.${stream}`;
  const consumer = 'inbox';
  const dead = natsDeadLetterNames(stream);
  const proxy = await startTcpProxy(4222);
  const nc = await connect({ servers: '127.0.0.1:4222', name: 'oncely-test-publisher' });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  return {
    name: 'nats',
    // Through the proxy, so the test can cut the inbox's connection and only its.
    env: {
      INBOX_NATS_URL: `nats://127.0.0.1:${proxy.port}`,
      INBOX_NATS_STREAM: stream,
      INBOX_NATS_SUBJECT: subject,
      INBOX_NATS_CONSUMER: consumer,
      INBOX_NATS_PREFETCH: '20',
      INBOX_NATS_ACK_WAIT_SECONDS: '15',
    },
    clientId: `nats:${stream}`,
    async publish(body, options = {}) {
      // The stream may not exist until the inbox has started: wait for it (bounded).
      for (let attempt = 0; ; attempt++) {
        try {
          const h = headers();
          if (options.key) h.set('Nats-Msg-Id', options.key);
          const ack = await js.publish(subject, body, { headers: h, timeout: 2000 });
          return { duplicate: ack.duplicate };
        } catch (err) {
          if (attempt >= 50) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    },
    async deadLetters() {
      const letters: DeadLetter[] = [];
      const info = await jsm.streams.info(dead.stream).catch(() => undefined);
      for (let seq = info?.state.first_seq ?? 1; info && seq <= info.state.last_seq; seq++) {
        const message = await jsm.streams.getMessage(dead.stream, { seq }).catch(() => null);
        if (!message) continue;
        letters.push({ reason: message.header.get('Oncely-Reason') || undefined, detail: message.header.get('Oncely-Detail') || undefined, body: message.string() });
      }
      return letters;
    },
    async pending() {
      const info = await jsm.consumers.info(stream, consumer);
      return info.num_pending + info.num_ack_pending;
    },
    cutConnections() {
      return Promise.resolve(proxy.cut());
    },
    async deleteConsumer() {
      await jsm.consumers.delete(stream, consumer);
    },
    async cleanup() {
      await jsm.streams.delete(stream).catch(() => {});
      await jsm.streams.delete(dead.stream).catch(() => {});
      await nc.close();
      await proxy.close();
    },
  };
}

export async function redisKit(): Promise<BrokerKit> {
  const stream = `oncely:test:${suffix()}`;
  const group = 'oncely';
  const dead = redisDeadLetterStream(stream);
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  client.on('error', () => {});
  await client.connect();
  await client.xGroupCreate(stream, group, '0', { MKSTREAM: true });
  return {
    name: 'redis',
    env: {
      INBOX_REDIS_URL: 'redis://127.0.0.1:6379',
      INBOX_REDIS_STREAM: stream,
      INBOX_REDIS_GROUP: group,
      INBOX_REDIS_PREFETCH: '20',
      INBOX_REDIS_CLAIM_IDLE_MS: '15000',
    },
    clientId: `redis:${stream}`,
    async publish(body, options = {}) {
      await client.xAdd(stream, '*', { envelope: body, ...(options.key ? { id: options.key } : {}) });
      return {};
    },
    async deadLetters() {
      const entries = await client.xRange(dead, '-', '+');
      return (entries ?? []).map(({ message }) => ({ reason: message['reason'], detail: message['detail'], body: message['envelope'] ?? '' }));
    },
    async pending() {
      const groups = await client.xInfoGroups(stream);
      const info = groups.find((g) => String(g.name) === group);
      return Number(info?.pending ?? NaN) + Number(info?.lag ?? 0);
    },
    async cutConnections(connectionName) {
      const ids = (await client.clientList()).filter((c) => String(c.name).startsWith(connectionName)).map((c) => String(c.id));
      for (const id of ids) await client.sendCommand(['CLIENT', 'KILL', 'ID', id]);
      return ids.length;
    },
    async cleanup() {
      await client.del([stream, dead]);
      await client.close();
    },
  };
}

export const KITS: Record<BrokerName, () => Promise<BrokerKit>> = { rabbitmq: rabbitKit, nats: natsKit, redis: redisKit };
