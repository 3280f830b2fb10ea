// Delivery tags belong to a channel: after a forced connection close, a delivery from the old channel must
// never be acked on the new one, where its tag names another message (or none, which closes the channel).
import { afterEach, describe, expect, it } from 'vitest';
import { createRabbitMqSource } from '../../src/brokers/rabbitmq/inbox.ts';
import type { Delivery } from '../../src/brokers/source.ts';
import { createLogger } from '../../src/log.ts';
import { waitUntil } from '../helpers/system.ts';
import { brokerKit, type BrokerKit } from './kits.ts';

let kit: BrokerKit | undefined;
afterEach(async () => {
  await kit?.cleanup();
});

describe('rabbitmq channel generations', () => {
  it('never settles a delivery on the channel that replaced its own', async () => {
    kit = await brokerKit('rabbitmq');
    const connectionName = `oncely-generation-test-${process.pid}`;
    const source = createRabbitMqSource({
      url: kit.env['INBOX_RABBITMQ_URL']!,
      queue: kit.env['INBOX_RABBITMQ_QUEUE']!,
      prefetch: 5,
      clientId: 'test',
      connectionName,
      log: createLogger('silent', 'test'),
      backoff: { baseMs: 50, capMs: 500 },
    });
    const deliveries: Delivery[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    source.start(async (delivery) => {
      deliveries.push(delivery);
      await held;
      await delivery.ack();
    });
    try {
      await kit.publish('{}', { key: 'only-message' });
      await waitUntil(
        () => Promise.resolve(deliveries.length),
        (n) => n === 1,
        30_000,
        'the first delivery',
      );
      expect(deliveries[0]!.live()).toBe(true);

      expect(await kit.cutConnections(connectionName)).toBe(1);
      // RabbitMQ requeued the unacked message and delivers it again on the new connection, with the same tag (1).
      await waitUntil(
        () => Promise.resolve(deliveries.length),
        (n) => n === 2,
        30_000,
        'the redelivery',
      );
      expect(deliveries[0]!.live()).toBe(false);
      expect(deliveries[1]!.live()).toBe(true);

      // Both ack now: the stale one must be a no-op. Had it acked tag 1 on the new channel, the second ack
      // would name an unknown tag and RabbitMQ would close the channel (the delivery would not be live).
      release();
      await waitUntil(
        () => kit!.pending(),
        (n) => n === 0,
        30_000,
        'the queue to be empty',
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(deliveries[1]!.live()).toBe(true);
      expect(deliveries).toHaveLength(2);
    } finally {
      release();
      await source.stop();
    }
  });
});
