import amqp, { type ChannelModel } from 'amqplib';
import { CONFIRM_TIMEOUT_MS, createLazyConnection, PublishError, withTimeout, type Publisher } from '../publisher.ts';
import { rabbitDeadLetterNames } from './index.ts';

export interface RabbitOptions {
  url: string;
  /** A topic exchange, declared durable; the routing key is the message type. */
  exchange: string;
  /** A durable queue bound to the exchange with `#` (optional). */
  queue?: string;
  /** Shown in the broker's connection list (rabbitmqctl list_connections client_properties). */
  connectionName?: string;
}

/**
 * Publishes to a RabbitMQ topic exchange through a confirm channel: persistent messages, `message_id` =
 * event id, provenance in headers; resolves when the broker acked the message.
 *
 * @example
 * const publisher = createRabbitPublisher({ url: 'amqp://guest:guest@127.0.0.1:5672', exchange: 'oncely.events' });
 */
export function createRabbitPublisher(options: RabbitOptions): Publisher {
  const connection = createLazyConnection({
    connect: () => amqp.connect(options.url, { clientProperties: { connection_name: options.connectionName ?? 'oncely-relay' } }),
    async prepare(model, forget) {
      // A lost connection or channel is dropped here and reopened by the next publish.
      model.on('error', () => {});
      model.on('close', forget);
      const channel = await model.createConfirmChannel();
      channel.on('error', () => {});
      channel.on('close', forget);
      await channel.assertExchange(options.exchange, 'topic', { durable: true });
      if (options.queue) {
        // An existing queue (another oncely's inbox declared it, with its own arguments) is only bound:
        // redeclaring it with other arguments is a channel error. A missing one is declared the way
        // oncely's inbox declares its queue (dead letters to `<queue>.dlx`), so either may start first.
        if (!(await queueExists(model, options.queue))) {
          await channel.assertQueue(options.queue, { durable: true, arguments: { 'x-dead-letter-exchange': rabbitDeadLetterNames(options.queue).exchange } });
        }
        await channel.bindQueue(options.queue, options.exchange, '#');
      }
      return channel;
    },
    close: (model) => model.close(),
  });

  return {
    broker: 'rabbitmq',
    async publish(message) {
      const channel = await connection.get();
      const confirmed = new Promise<void>((resolve, reject) => {
        try {
          channel.publish(
            options.exchange,
            message.type,
            Buffer.from(message.body),
            {
              messageId: message.id,
              persistent: true,
              contentType: 'application/json',
              type: message.type,
              headers: message.headers,
            },
            (err: unknown) =>
              err
                ? reject(
                    new PublishError('the broker nacked the message', {
                      cause: err,
                    }),
                  )
                : resolve(),
          );
        } catch (err) {
          reject(new PublishError('publish failed', { cause: err }));
        }
      });
      await withTimeout(confirmed, CONFIRM_TIMEOUT_MS, 'rabbitmq publish');
      return 'stored';
    },
    close: () => connection.close(),
  };
}

/** Whether the queue exists, asked on a scratch channel (a passive declare of a missing queue closes its channel). */
async function queueExists(model: ChannelModel, queue: string): Promise<boolean> {
  const scratch = await model.createChannel();
  scratch.on('error', () => {});
  try {
    await scratch.checkQueue(queue);
    return true;
  } catch {
    return false;
  } finally {
    await scratch.close().catch(() => {});
  }
}
