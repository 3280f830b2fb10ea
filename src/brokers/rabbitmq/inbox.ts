// The RabbitMQ inbox (amqplib): a durable queue consumed with manual acks and a prefetch window, a
// dead-letter exchange and queue beside it, and a reconnect loop. Delivery tags belong to a channel: every
// delivery remembers the generation of the channel it came on and is never settled on a later one.
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { Logger } from '../../log.ts';
import { backoffDelay, onAbort, pause, type Backoff } from '../backoff.ts';
import type { DeadLetterProblem, Delivery, InboxSource } from '../source.ts';
import { rabbitDeadLetterNames } from './index.ts';

export interface RabbitMqSourceOptions {
  url: string;
  queue: string;
  /** Deliveries in hand at once (basic.qos): the most commands one group-commit flush can take from this queue. */
  prefetch: number;
  clientId: string;
  /** The connection's `connection_name` client property (shown by `rabbitmqctl list_connections`). */
  connectionName: string;
  log: Logger;
  backoff: Backoff;
}

/**
 * Declares `queue` (with its dead-letter exchange) and the dead-letter exchange and queue; idempotent. The kit
 * declares them with it too, so a test may publish before the inbox starts.
 *
 * @example
 * await declareInboxQueue(channel, 'oncely.commands');
 */
export async function declareInboxQueue(channel: Channel, queue: string): Promise<void> {
  const dead = rabbitDeadLetterNames(queue);
  await channel.assertExchange(dead.exchange, 'fanout', { durable: true });
  await channel.assertQueue(dead.queue, { durable: true });
  await channel.bindQueue(dead.queue, dead.exchange, '');
  // Anything rejected elsewhere (an operator's nack, a TTL) lands in the same dead-letter queue.
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-dead-letter-exchange': dead.exchange } });
}

interface Session {
  model: ChannelModel;
  channel: ConfirmChannel;
  generation: number;
  consumerTag?: string;
}

/**
 * @example
 * const source = createRabbitMqSource({ url: 'amqp://guest:guest@127.0.0.1:5672', queue: 'oncely.commands', prefetch: 50, clientId: 'rabbitmq:oncely.commands', connectionName: 'oncely-inbox', log, backoff: DEFAULT_BACKOFF });
 * source.start(handle);
 */
export function createRabbitMqSource(options: RabbitMqSourceOptions): InboxSource {
  const { queue, log } = options;
  const dead = rabbitDeadLetterNames(queue);
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let session: Session | undefined;
  let generation = 0;
  let running: Promise<void> | undefined;

  function deliveryOf(message: ConsumeMessage, current: Session): Delivery {
    const live = () => session === current && !stoppedChannel(current);
    return {
      body: message.content,
      key: typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined,
      keyName: 'AMQP message_id property',
      keyPath: 'message_id',
      live,
      ack() {
        settle(current, message);
        return Promise.resolve();
      },
      async deadLetter(problem: DeadLetterProblem) {
        if (!live()) return;
        // Published with the problem in its headers and confirmed before the original is acked: a crash in
        // between leaves the original to be dead-lettered again, never lost.
        await new Promise<void>((resolve, reject) =>
          current.channel.publish(
            dead.exchange,
            queue,
            message.content,
            {
              // Built field by field, not spread: a foreign user_id would make RabbitMQ close the channel (and the
              // dead-lettering loop forever), an expiration would make the dead copy vanish.
              ...(message.properties.messageId === undefined ? {} : { messageId: message.properties.messageId as string }),
              ...(message.properties.contentType === undefined ? {} : { contentType: message.properties.contentType as string }),
              ...(message.properties.timestamp === undefined ? {} : { timestamp: message.properties.timestamp as number }),
              persistent: true,
              headers: { ...(message.properties.headers ?? {}), 'x-oncely-reason': problem.reason, 'x-oncely-detail': problem.detail, 'x-oncely-queue': queue },
            },
            (err: unknown) => (err ? reject(err instanceof Error ? err : new Error('the dead letter was not confirmed')) : resolve()),
          ),
        );
        settle(current, message);
      },
    };
  }

  /** Acks on the delivery's own channel while it is the current one; a channel closing meanwhile has requeued it. */
  function settle(current: Session, message: ConsumeMessage): void {
    if (session !== current || stoppedChannel(current)) return;
    try {
      current.channel.ack(message);
    } catch {
      // Closed between the check and the ack: RabbitMQ delivers it again, as a duplicate.
    }
  }

  const closedChannels = new WeakSet<ConfirmChannel>();
  const stoppedChannel = (current: Session) => closedChannels.has(current.channel);

  async function runSession(handle: (delivery: Delivery) => Promise<void>): Promise<void> {
    const model = await amqp.connect(options.url, { clientProperties: { connection_name: options.connectionName } });
    try {
      // 'close' follows every 'error'; without a listener an 'error' would crash the process.
      model.on('error', (err: Error) => log.warn({ source: 'rabbitmq', err: { message: err.message } }, 'inbox: RabbitMQ connection error'));
      const closed = new Promise<void>((resolve) => model.once('close', () => resolve()));
      const channel = await model.createConfirmChannel();
      channel.on('error', (err: Error) => log.warn({ source: 'rabbitmq', err: { message: err.message } }, 'inbox: RabbitMQ channel error'));
      const channelClosed = new Promise<void>((resolve) =>
        channel.once('close', () => {
          closedChannels.add(channel);
          resolve();
        }),
      );
      await declareInboxQueue(channel, queue);
      await channel.prefetch(options.prefetch);
      const current: Session = { model, channel, generation: ++generation };
      session = current;
      const { consumerTag } = await channel.consume(
        queue,
        (message) => {
          // null: the server cancelled the consumer (the queue was deleted); reconnecting declares it again.
          if (message === null) {
            void model.close().catch(() => {});
            return;
          }
          const delivery = deliveryOf(message, current);
          const task = handle(delivery)
            .catch(async (err: unknown) => {
              log.error({ source: 'rabbitmq', err: { message: (err as Error).message } }, 'inbox: delivery failed; requeued after a pause');
              // Left unacked it would hold a prefetch slot until consumer_timeout: requeue it after a bounded
              // pause (so a failing message does not spin), unless its channel is gone (that requeued it).
              await pause(options.backoff.capMs, stopping.signal);
              if (!delivery.live()) return;
              try {
                channel.nack(message, false, true);
              } catch {
                // Closed meanwhile: RabbitMQ requeued it.
              }
            })
            .finally(() => inFlight.delete(task));
          inFlight.add(task);
        },
        { noAck: false },
      );
      current.consumerTag = consumerTag;
      log.info({ source: 'rabbitmq', queue, generation: current.generation }, 'inbox: consuming');
      let disposeStop = () => {};
      const stopped = new Promise<void>((resolve) => (disposeStop = onAbort(stopping.signal, resolve)));
      try {
        await Promise.race([closed, channelClosed, stopped]);
      } finally {
        disposeStop();
      }
      if (stopping.signal.aborted && !stoppedChannel(current)) {
        // Stop: no new deliveries, let those in hand commit and ack on this channel, then close.
        await channel.cancel(consumerTag).catch(() => {});
        await Promise.allSettled([...inFlight]);
      }
    } finally {
      session = undefined;
      await model.close().catch(() => {});
    }
  }

  return {
    name: 'rabbitmq',
    clientId: options.clientId,
    start(handle) {
      running ??= (async () => {
        for (let attempt = 0; !stopping.signal.aborted;) {
          const before = generation;
          try {
            await runSession(handle);
          } catch (err) {
            log.warn({ source: 'rabbitmq', attempt, err: { message: (err as Error).message } }, 'inbox: RabbitMQ unavailable, reconnecting');
          }
          attempt = generation > before ? 0 : attempt + 1;
          if (!stopping.signal.aborted) await pause(backoffDelay(attempt, options.backoff), stopping.signal);
        }
      })();
    },
    async stop() {
      stopping.abort();
      await running;
      await Promise.allSettled([...inFlight]);
    },
  };
}
