// The broker side of the inbox scenarios: a queue or stream named after the run, a fast publisher (confirmed
// publishes, in windows), the INBOX_* variables that point `npm run inbox` at it, and cleanup.
import amqp from 'amqplib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos } from '@nats-io/transport-node';
import { createClient } from 'redis';
import { rabbitDeadLetterNames } from '../../src/inbox/rabbitmq.ts';
import { natsDeadLetterNames } from '../../src/inbox/nats.ts';
import { redisDeadLetterStream } from '../../src/inbox/redis.ts';
import type { Command } from './http.ts';

export type BrokerName = 'rabbitmq' | 'nats' | 'redis';

export interface BenchBroker {
  env: Record<string, string>;
  /** Publishes every command (its id as the broker's message id), waiting for the broker to confirm each. */
  publishAll(commands: readonly Command[], onPublished: (n: number) => void): Promise<void>;
  close(): Promise<void>;
}

const WINDOW = 1000;

async function rabbit(runId: string): Promise<BenchBroker> {
  const url = 'amqp://guest:guest@127.0.0.1:5672';
  const queue = `oncely.bench.${runId}`;
  const dead = rabbitDeadLetterNames(queue);
  const model = await amqp.connect(url);
  const channel = await model.createConfirmChannel();
  await channel.assertExchange(dead.exchange, 'fanout', { durable: true });
  await channel.assertQueue(dead.queue, { durable: true });
  await channel.bindQueue(dead.queue, dead.exchange, '');
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-dead-letter-exchange': dead.exchange } });
  return {
    env: { INBOX_RABBITMQ_URL: url, INBOX_RABBITMQ_QUEUE: queue },
    async publishAll(commands, onPublished) {
      for (let i = 0; i < commands.length; i += WINDOW) {
        const window = commands.slice(i, i + WINDOW);
        for (const command of window) channel.sendToQueue(queue, Buffer.from(JSON.stringify(command)), { messageId: command.id, persistent: true });
        await channel.waitForConfirms();
        onPublished(window.length);
      }
    },
    async close() {
      for (const name of [queue, dead.queue]) await channel.deleteQueue(name).catch(() => {});
      await channel.deleteExchange(dead.exchange).catch(() => {});
      await model.close().catch(() => {});
    },
  };
}

async function nats(runId: string): Promise<BenchBroker> {
  const stream = `ONCELY_BENCH_${runId}`;
  const subject = `oncely.bench.${runId}`;
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  // Created here (as the inbox would) so nothing published before the inbox starts is lost.
  await jsm.streams.add({ name: stream, subjects: [subject], duplicate_window: nanos(120_000) });
  return {
    env: { INBOX_NATS_URL: 'nats://127.0.0.1:4222', INBOX_NATS_STREAM: stream, INBOX_NATS_SUBJECT: subject },
    async publishAll(commands, onPublished) {
      for (let i = 0; i < commands.length; i += WINDOW) {
        const window = commands.slice(i, i + WINDOW);
        await Promise.all(
          window.map((command) => {
            const h = headers();
            h.set('Nats-Msg-Id', command.id);
            return js.publish(subject, JSON.stringify(command), { headers: h });
          }),
        );
        onPublished(window.length);
      }
    },
    async close() {
      for (const name of [stream, natsDeadLetterNames(stream).stream]) await jsm.streams.delete(name).catch(() => {});
      await nc.close();
    },
  };
}

async function redis(runId: string): Promise<BenchBroker> {
  const stream = `oncely:bench:${runId}`;
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  client.on('error', () => {});
  await client.connect();
  return {
    env: { INBOX_REDIS_URL: 'redis://127.0.0.1:6379', INBOX_REDIS_STREAM: stream },
    async publishAll(commands, onPublished) {
      for (let i = 0; i < commands.length; i += WINDOW) {
        const window = commands.slice(i, i + WINDOW);
        // Concurrent commands on one node-redis client are pipelined.
        await Promise.all(window.map((command) => client.xAdd(stream, '*', { id: command.id, envelope: JSON.stringify(command) })));
        onPublished(window.length);
      }
    },
    async close() {
      await client.del([stream, redisDeadLetterStream(stream)]).catch(() => 0);
      await client.close();
    },
  };
}

/**
 * @example
 * const broker = await openBenchBroker('redis', 'bench_m1x2');
 * await broker.publishAll(commands, (n) => (published += n));
 * await broker.close();
 */
export function openBenchBroker(name: BrokerName, runId: string): Promise<BenchBroker> {
  return { rabbitmq: rabbit, nats, redis }[name](runId);
}
