// Redis Streams driven from outside: a stream and its consumer group created as the inbox creates them, entries
// appended with XADD, the dead-letter stream read back, the inbox's connections closed with CLIENT KILL; and a
// stream of its own for a relay to append to.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { isNamed, type InboxKit, type InboxKitOptions, type RelayKit, type Seen } from '../kit.ts';
import { redis, redisDeadLetterStream } from './index.ts';

const URL = redis.defaultUrl;

/**
 * @example
 * const kit = await inboxKit({ label: 'test' });
 * await kit.publish(JSON.stringify(envelope), { key: envelope.id });
 */
export async function inboxKit(options: InboxKitOptions): Promise<InboxKit> {
  const suffix = randomBytes(4).toString('hex');
  const stream = `oncely:${options.label}:${suffix}`;
  const group = 'oncely';
  const dead = redisDeadLetterStream(stream);
  const client = createClient({ url: URL, name: `oncely-${options.label}-publisher-${suffix}` });
  client.on('error', () => {});
  await client.connect();
  await client.xGroupCreate(stream, group, '0', { MKSTREAM: true });
  return {
    name: 'redis',
    env: {
      INBOX_REDIS_URL: URL,
      INBOX_REDIS_STREAM: stream,
      INBOX_REDIS_GROUP: group,
      ...(options.quick ? { INBOX_REDIS_PREFETCH: '20', INBOX_REDIS_CLAIM_IDLE_MS: '15000' } : {}),
    },
    clientId: `redis:${stream}`,
    relayEnv: { RELAY_BROKER: 'redis', RELAY_URL: URL, RELAY_STREAM: stream },
    async publish(body, publish = {}) {
      await client.xAdd(stream, '*', { envelope: body, ...(publish.key ? { id: publish.key } : {}) });
      return {};
    },
    async deadLetters() {
      const entries = await client.xRange(dead, '-', '+');
      return (entries ?? []).map(({ message }) => ({ key: message['id'], reason: message['reason'], detail: message['detail'], body: message['envelope'] ?? '' }));
    },
    async pending() {
      const groups = await client.xInfoGroups(stream);
      const info = groups.find((g) => String(g.name) === group);
      return Number(info?.pending ?? NaN) + Number(info?.lag ?? 0);
    },
    async cutConnections(...names) {
      const ids = (await client.clientList()).filter((c) => isNamed(String(c.name), names)).map((c) => String(c.id));
      for (const id of ids) await client.sendCommand(['CLIENT', 'KILL', 'ID', id]).catch(() => {});
      return ids.length;
    },
    async cleanup() {
      await client.del([stream, dead]).catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/**
 * @example
 * const target = relayKit();
 * const observer = await target.observe();
 */
export function relayKit(): RelayKit {
  const stream = `oncely-test-outbox-${randomBytes(4).toString('hex')}`;
  return {
    name: 'redis',
    env: { RELAY_BROKER: 'redis', RELAY_URL: URL, RELAY_STREAM: stream },
    port: 6379,
    urlVia: (port) => `redis://127.0.0.1:${port}`,
    routingOf: (type) => type,
    async observe() {
      const client = createClient({ url: URL });
      client.on('error', () => {});
      await client.connect();
      return {
        async seen(): Promise<Seen[]> {
          const entries = await client.xRange(stream, '-', '+');
          return (entries ?? []).map(({ message }) => {
            const { id, type, envelope, ...headers } = message as Record<string, string>;
            return { messageId: id!, routing: type!, body: envelope!, headers };
          });
        },
        async close() {
          await client.del(stream);
          await client.close();
        },
      };
    },
  };
}
