import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { describeOutbox, type Seen } from './outbox-harness.ts';

const URL = 'redis://127.0.0.1:6379';

describeOutbox('redis', () => {
  const stream = `oncely-test-outbox-${randomBytes(4).toString('hex')}`;
  return {
    broker: 'redis',
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
});
