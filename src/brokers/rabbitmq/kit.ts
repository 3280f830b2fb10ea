// RabbitMQ driven from outside: a queue declared as the inbox declares it, publishes with confirms, the dead-letter
// queue read back, connections closed with rabbitmqctl; and an exchange of its own for a relay to publish to.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { isNamed, type DeadLetter, type InboxKit, type InboxKitOptions, type RelayKit, type Seen } from '../kit.ts';
import { rabbitmq, rabbitDeadLetterNames } from './index.ts';
import { declareInboxQueue } from './inbox.ts';

const run = promisify(execFile);
const URL = rabbitmq.defaultUrl;

/**
 * @example
 * const kit = await inboxKit({ label: 'test' });
 * await kit.publish(JSON.stringify(envelope), { key: envelope.id });
 */
export async function inboxKit(options: InboxKitOptions): Promise<InboxKit> {
  const suffix = randomBytes(4).toString('hex');
  const queue = `oncely.${options.label}.${suffix}`;
  const dead = rabbitDeadLetterNames(queue);
  const relayExchange = `${queue}.events`;
  const model = await amqp.connect(URL, { clientProperties: { connection_name: `oncely-${options.label}-publisher-${suffix}` } });
  model.on('error', () => {});
  const channel = await model.createConfirmChannel();
  channel.on('error', () => {});
  await declareInboxQueue(channel, queue);
  return {
    name: 'rabbitmq',
    env: { INBOX_RABBITMQ_URL: URL, INBOX_RABBITMQ_QUEUE: queue, ...(options.quick ? { INBOX_RABBITMQ_PREFETCH: '20' } : {}) },
    clientId: `rabbitmq:${queue}`,
    // The kit's queue named as RELAY_QUEUE: the relay binds it to its exchange without redeclaring it.
    relayEnv: { RELAY_BROKER: 'rabbitmq', RELAY_URL: URL, RELAY_EXCHANGE: relayExchange, RELAY_QUEUE: queue },
    async publish(body, publish = {}) {
      await new Promise<void>((resolve, reject) =>
        channel.sendToQueue(
          queue,
          Buffer.from(body),
          { persistent: true, ...(publish.key ? { messageId: publish.key } : {}), ...(publish.expiration ? { expiration: publish.expiration } : {}) },
          (err: unknown) => (err ? reject(err instanceof Error ? err : new Error('publish not confirmed')) : resolve()),
        ),
      );
      return {};
    },
    async deadLetters() {
      const letters: DeadLetter[] = [];
      for (let i = 0; i < 100_000; i++) {
        const message = await channel.get(dead.queue, { noAck: false });
        if (!message) break;
        const h = message.properties.headers ?? {};
        letters.push({
          key: (message.properties.messageId as string | undefined) ?? undefined,
          reason: h['x-oncely-reason'] as string | undefined,
          detail: h['x-oncely-detail'] as string | undefined,
          body: message.content.toString(),
        });
      }
      // Not acked: recover puts them back, so a second read sees them again.
      await channel.recover();
      return letters;
    },
    async pending() {
      // Ready and unacknowledged both (a passive declare counts only the ready ones).
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'messages']);
      const line = stdout.split('\n').find((l) => l.split(/\s+/)[0] === queue);
      return Number(line?.split(/\s+/)[1] ?? NaN);
    },
    async cutConnections(...names) {
      const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties']);
      // A line: `<pid> [{"connection_name","oncely-inbox-host-123"},...]`.
      const pids = stdout
        .split('\n')
        .filter((line) => [...line.matchAll(/\{"connection_name","([^"]*)"\}/g)].some((m) => isNamed(m[1] ?? '', names)))
        .map((line) => line.split(/\s+/)[0] ?? '')
        .filter((pid) => pid.startsWith('<'));
      for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'oncely kit: forced close']).catch(() => {});
      return pids.length;
    },
    async cleanup() {
      await channel.deleteQueue(queue).catch(() => {});
      await channel.deleteQueue(dead.queue).catch(() => {});
      await channel.deleteExchange(dead.exchange).catch(() => {});
      await channel.deleteExchange(relayExchange).catch(() => {});
      await model.close().catch(() => {});
    },
  };
}

/**
 * @example
 * const target = relayKit();
 * const observer = await target.observe();
 */
export function relayKit(): RelayKit {
  const exchange = `oncely.test.outbox.${randomBytes(4).toString('hex')}`;
  return {
    name: 'rabbitmq',
    env: { RELAY_BROKER: 'rabbitmq', RELAY_URL: URL, RELAY_EXCHANGE: exchange },
    port: 5672,
    urlVia: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
    routingOf: (type) => type,
    async observe() {
      const connection = await amqp.connect(URL);
      const channel = await connection.createChannel();
      await channel.assertExchange(exchange, 'topic', { durable: true });
      const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
      await channel.bindQueue(queue, exchange, '#');
      const seen: Seen[] = [];
      await channel.consume(
        queue,
        (message) => {
          if (!message) return;
          const headers = Object.fromEntries(Object.entries(message.properties.headers ?? {}).map(([k, v]) => [k, String(v)]));
          seen.push({ messageId: String(message.properties.messageId), routing: message.fields.routingKey, body: message.content.toString(), headers });
        },
        { noAck: true },
      );
      return {
        seen: () => Promise.resolve([...seen]),
        async close() {
          await channel.deleteExchange(exchange);
          await connection.close();
        },
      };
    },
  };
}
