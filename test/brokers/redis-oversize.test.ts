// An oversized Redis Streams entry is never read whole into the inbox: only its id and size cross the wire, and
// dead-lettering copies it inside Redis. The bytes from Redis to the inbox are counted through a proxy of the
// test's own. (The inbox's own handler dead-letters such a delivery as payload_too_large: test/brokers/inbox.test.ts.)
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisSource, MAX_ENTRY_BYTES } from '../../src/brokers/redis/inbox.ts';
import type { Delivery } from '../../src/brokers/source.ts';
import { createLogger } from '../../src/log.ts';
import { waitUntil } from '../helpers/system.ts';
import { brokerKit, type BrokerKit } from './kits.ts';

let kit: BrokerKit | undefined;
let proxy: net.Server | undefined;
const sockets = new Set<net.Socket>();
afterEach(async () => {
  await kit?.cleanup();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
});

/** A forwarder to Redis that counts the bytes Redis sends back. */
async function countingProxy(): Promise<{ port: number; fromRedis: () => number }> {
  let bytes = 0;
  proxy = net.createServer((client) => {
    const upstream = net.connect(6379, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => proxy!.listen(0, '127.0.0.1', resolve));
  return { port: (proxy.address() as net.AddressInfo).port, fromRedis: () => bytes };
}

describe('redis inbox: oversized entries', () => {
  it('hands over an entry over the bound without its body, dead-letters it inside Redis, and goes on with the next', async () => {
    kit = await brokerKit('redis');
    const counter = await countingProxy();
    const huge = JSON.stringify({ id: 'huge', type: 'account.open', entityId: 'x', payload: { pad: 'x'.repeat(4 * 1024 * 1024) } });
    await kit.publish(huge, { key: 'huge' });
    await kit.publish(JSON.stringify({ id: 'small', type: 'account.open', entityId: 'y', payload: {} }), { key: 'small' });
    const seen: Delivery[] = [];
    const source = createRedisSource({
      url: `redis://127.0.0.1:${counter.port}`,
      stream: kit.env['INBOX_REDIS_STREAM']!,
      group: kit.env['INBOX_REDIS_GROUP']!,
      consumer: 'oversize-test',
      prefetch: 5,
      claimIdleMs: 15_000,
      maxDeliveries: 5,
      clientId: 'test',
      connectionName: 'oncely-oversize-test',
      log: createLogger('silent', 'test'),
      backoff: { baseMs: 20, capMs: 200 },
    });
    source.start(async (delivery) => {
      seen.push(delivery);
      if (delivery.unreadBytes !== undefined) await delivery.deadLetter({ reason: 'payload_too_large', detail: `the entry is ${delivery.unreadBytes} bytes` });
      else await delivery.ack();
    });
    try {
      await waitUntil(
        () => seen.length,
        (n) => n >= 2,
        30_000,
        'both entries',
      );
      await waitUntil(
        () => kit!.pending(),
        (n) => n === 0,
        30_000,
        'nothing pending',
      );
      expect(seen.map((delivery) => [delivery.key, delivery.body === undefined, (delivery.unreadBytes ?? 0) > MAX_ENTRY_BYTES])).toEqual([
        [undefined, true, true],
        ['small', false, false],
      ]);
      const letters = await kit.deadLetters();
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ reason: 'payload_too_large', detail: expect.stringMatching(/^the entry is \d+ bytes$/) });
      // The dead letter holds the whole entry, copied inside Redis.
      expect(letters[0]!.body).toBe(huge);
      // The 4 MiB entry never came through the proxy to the inbox.
      expect(counter.fromRedis()).toBeLessThan(256 * 1024);
    } finally {
      await source.stop();
    }
  });
});
