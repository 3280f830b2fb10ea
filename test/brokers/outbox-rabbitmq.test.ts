import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { describeOutbox, type Seen } from './outbox-harness.ts';

const URL = 'amqp://guest:guest@127.0.0.1:5672';

describeOutbox('rabbitmq', () => {
  const exchange = `oncely.test.outbox.${randomBytes(4).toString('hex')}`;
  return {
    broker: 'rabbitmq',
    env: { RELAY_BROKER: 'rabbitmq', RELAY_URL: URL, RELAY_EXCHANGE: exchange },
    port: 5672,
    urlVia: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
    routingOf: (type) => type,
    async observe() {
      const connection = await amqp.connect(URL);
      const channel = await connection.createChannel();
      await channel.assertExchange(exchange, 'topic', { durable: true });
      const { queue } = await channel.assertQueue('', {
        exclusive: true,
        autoDelete: true,
      });
      await channel.bindQueue(queue, exchange, '#');
      const seen: Seen[] = [];
      await channel.consume(
        queue,
        (message) => {
          if (!message) return;
          const headers = Object.fromEntries(Object.entries(message.properties.headers ?? {}).map(([k, v]) => [k, String(v)]));
          seen.push({
            messageId: String(message.properties.messageId),
            routing: message.fields.routingKey,
            body: message.content.toString(),
            headers,
          });
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
});
