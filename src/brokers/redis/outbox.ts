import { createClient } from 'redis';
import { CONFIRM_TIMEOUT_MS, createLazyConnection, PublishError, withTimeout, type Publisher } from '../publisher.ts';

export interface RedisOptions {
  url: string;
  stream: string;
}

type Client = ReturnType<typeof createClient>;

/**
 * Appends to a Redis stream: `XADD <stream> * id <eventId> type <type> envelope <json> <header> <value> ...`;
 * resolves on the reply (the entry is in the stream). Redis keeps no message ids: a consumer dedupes on `id`.
 *
 * @example
 * const publisher = createRedisPublisher({ url: 'redis://127.0.0.1:6379', stream: 'oncely.events' });
 */
export function createRedisPublisher(options: RedisOptions): Publisher {
  const connection = createLazyConnection({
    async connect(): Promise<Client> {
      // Reconnects by itself with a bounded backoff; commands sent while it is down fail instead of queueing.
      const client: Client = createClient({
        url: options.url,
        name: 'oncely-relay',
        disableOfflineQueue: true,
        socket: { connectTimeout: 5000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000) },
      });
      client.on('error', () => {});
      await client.connect();
      return client;
    },
    prepare: (client) => Promise.resolve(client),
    async close(client) {
      if (client.isOpen) await client.close();
    },
  });

  return {
    broker: 'redis',
    async publish(message) {
      const client = await connection.get();
      try {
        await withTimeout(
          client.xAdd(options.stream, '*', {
            id: message.id,
            type: message.type,
            envelope: message.body,
            ...message.headers,
          }),
          CONFIRM_TIMEOUT_MS,
          'redis XADD',
        );
        return 'stored';
      } catch (err) {
        throw err instanceof PublishError ? err : new PublishError('redis XADD failed', { cause: err });
      }
    },
    close: () => connection.close(),
  };
}
