// The NATS JetStream inbox: a stream over the configured subject, a durable pull consumer with explicit
// acks, an ack wait far longer than a commit and a bounded number of deliveries; a dead-letter stream beside
// it. The client reconnects by itself; acks travel by reply subject and stay valid across reconnects
// (JetStream acks the message by its stream sequence), so no delivery is tied to one connection.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, headers, nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.ts';
import { backoffDelay, onAbort, pause, type Backoff } from '../backoff.ts';
import type { DeadLetterProblem, Delivery, InboxSource } from '../source.ts';
import { natsDeadLetterNames } from './index.ts';

export interface NatsSourceOptions {
  url: string;
  stream: string;
  /** The subject (wildcards allowed) the stream takes commands from. */
  subject: string;
  /** The durable consumer's name. */
  consumer: string;
  /** Messages pulled and in hand at once. */
  prefetch: number;
  /** How long the server waits for an ack before redelivering (far longer than a commit). */
  ackWaitMs: number;
  /** Deliveries of one message before the server gives up on it. */
  maxDeliver: number;
  clientId: string;
  connectionName: string;
  log: Logger;
  backoff: Backoff;
}

/** JetStream's duplicate window for the stream: a re-published Nats-Msg-Id within it is dropped at publish. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

const isApiError = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

/**
 * Creates the stream `name` over `subjects` unless it exists, as the inbox needs it (a duplicate window of two
 * minutes). The kit creates its stream with it too, so a test may publish before the inbox starts.
 *
 * @example
 * await ensureInboxStream(await jetstreamManager(nc), 'ONCELY_COMMANDS', ['oncely.commands']);
 */
export async function ensureInboxStream(jsm: JetStreamManager, name: string, subjects: string[]): Promise<void> {
  try {
    await jsm.streams.info(name);
  } catch (err) {
    if (!isApiError(err, STREAM_NOT_FOUND)) throw err;
    await jsm.streams.add({ name, subjects, duplicate_window: nanos(DUPLICATE_WINDOW_MS) });
  }
}

/** A counting semaphore: at most `size` deliveries in hand, so the pull iterator waits instead of buffering. */
function createSlots(size: number) {
  let free = size;
  const waiting: (() => void)[] = [];
  return {
    async acquire() {
      if (free > 0) {
        free--;
        return;
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/**
 * @example
 * const source = createNatsSource({ url: 'nats://127.0.0.1:4222', stream: 'ONCELY', subject: 'oncely.commands', consumer: 'oncely-inbox', prefetch: 50, ackWaitMs: 30_000, maxDeliver: 20, clientId: 'nats:ONCELY', connectionName: 'oncely-inbox', log, backoff: DEFAULT_BACKOFF });
 * source.start(handle);
 */
export function createNatsSource(options: NatsSourceOptions): InboxSource {
  const { log, stream } = options;
  const dead = natsDeadLetterNames(stream);
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  /** Messages in hand: their ack deadline is pushed back on a timer while they are held. */
  const held = new Set<JsMsg>();
  let running: Promise<void> | undefined;

  async function ensure(nc: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(nc);
    await ensureInboxStream(jsm, stream, [options.subject]);
    await ensureInboxStream(jsm, dead.stream, [dead.subject]);
    try {
      await jsm.consumers.info(stream, options.consumer);
    } catch (err) {
      if (!isApiError(err, CONSUMER_NOT_FOUND)) throw err;
      await jsm.consumers.add(stream, {
        durable_name: options.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(options.ackWaitMs),
        max_deliver: options.maxDeliver,
        max_ack_pending: Math.max(1000, options.prefetch * 4),
      });
    }
  }

  /** Publishes a copy with the problem in its headers; its id is the stream sequence, so a second copy is dropped. */
  async function publishDead(nc: NatsConnection, message: { data: Uint8Array; seq: number; headers: MsgHdrs | undefined }, problem: DeadLetterProblem) {
    const h = headers();
    for (const [name, values] of message.headers ?? []) for (const value of values) if (name !== 'Nats-Msg-Id') h.append(name, value);
    h.set('Oncely-Reason', problem.reason);
    h.set('Oncely-Detail', problem.detail.replace(/[\r\n]/g, ' '));
    h.set('Oncely-Stream', stream);
    h.set('Oncely-Stream-Seq', String(message.seq));
    const id = message.headers?.get('Nats-Msg-Id');
    if (id) h.set('Oncely-Msg-Id', id);
    await jetstream(nc).publish(dead.subject, message.data, { headers: h, msgID: `${stream}:${message.seq}` });
  }

  /**
   * JetStream stops delivering a message after max_deliver deliveries and says so in an advisory (every inbox
   * process hears it): the message is copied to the dead-letter stream, so it is not silently skipped.
   */
  function watchMaxDeliveries(nc: NatsConnection): void {
    const jsm = jetstreamManager(nc);
    nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${options.consumer}`, {
      callback: (err, advisory) => {
        if (err) return;
        void (async () => {
          const { stream_seq: seq, deliveries } = advisory.json<{ stream_seq: number; deliveries: number }>();
          const stored = await (await jsm).streams.getMessage(stream, { seq });
          if (!stored) return;
          await publishDead(
            nc,
            { data: stored.data, seq, headers: stored.header },
            { reason: 'too_many_deliveries', detail: `delivered ${deliveries} times without being acknowledged` },
          );
          log.warn({ source: 'nats', stream, seq, deliveries }, 'inbox: message dead-lettered after too many deliveries');
        })().catch((e: unknown) => log.warn({ source: 'nats', err: { message: (e as Error).message } }, 'inbox: could not dead-letter a message past max_deliver'));
      },
    });
  }

  function deliveryOf(nc: NatsConnection, message: JsMsg): Delivery {
    return {
      body: message.data,
      key: message.headers?.get('Nats-Msg-Id') || undefined,
      keyName: 'Nats-Msg-Id header',
      keyPath: 'Nats-Msg-Id',
      live: () => !nc.isClosed(),
      async ack() {
        // Double ack: the server confirms it; a lost confirmation only means a redelivery, which is a duplicate.
        await message.ackAck({ timeout: 5000 }).catch(() => false);
      },
      async deadLetter(problem: DeadLetterProblem) {
        // Dead-lettering the same message again (a crash before term) is dropped as a duplicate.
        await publishDead(nc, message, problem);
        // No reason text: servers before 2.10 take only a bare +TERM (the reason travels in the dead letter's headers).
        message.term();
      },
    };
  }

  async function runSession(handle: (delivery: Delivery) => Promise<void>, connected: () => void): Promise<void> {
    const nc = await connect({ servers: options.url, name: options.connectionName, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: false });
    const slots = createSlots(options.prefetch);
    let disposeStop = () => {};
    try {
      await ensure(nc);
      connected();
      watchMaxDeliveries(nc);
      const consumer = await jetstream(nc).consumers.get(stream, options.consumer);
      // A deleted consumer or stream ends the session (instead of waiting for it forever), and the next one
      // declares them again.
      const messages = await consumer.consume({ max_messages: options.prefetch, abort_on_missing_resource: true });
      disposeStop = onAbort(stopping.signal, () => void messages.close());
      void nc.closed().then(() => messages.close());
      log.info({ source: 'nats', stream, consumer: options.consumer }, 'inbox: consuming');
      for await (const message of messages) {
        await slots.acquire();
        held.add(message);
        const task = handle(deliveryOf(nc, message)).finally(() => {
          held.delete(message);
          slots.release();
          inFlight.delete(task);
        });
        inFlight.add(task);
        if (stopping.signal.aborted) break;
      }
      await Promise.allSettled([...inFlight]);
    } finally {
      disposeStop();
      await nc.drain().catch(() => nc.close());
    }
  }

  return {
    name: 'nats',
    clientId: options.clientId,
    start(handle) {
      if (running) return;
      // working() pushes a held message's ack deadline back: every third of the ack wait, independently of
      // the submit attempts, so a message held through a PostgreSQL outage is never redelivered meanwhile.
      const extender = setInterval(
        () => {
          for (const message of held) {
            try {
              message.working();
            } catch {
              // Its connection is closed: the server redelivers it anyway, and the held copy is abandoned.
            }
          }
        },
        Math.max(100, Math.floor(options.ackWaitMs / 3)),
      );
      stopping.signal.addEventListener('abort', () => clearInterval(extender), { once: true });
      const wrapped = async (delivery: Delivery) => {
        await handle(delivery).catch((err: unknown) =>
          log.error({ source: 'nats', err: { message: (err as Error).message } }, 'inbox: delivery failed; left for redelivery'),
        );
      };
      running = (async () => {
        for (let attempt = 0; !stopping.signal.aborted; attempt++) {
          try {
            await runSession(wrapped, () => (attempt = 0));
          } catch (err) {
            log.warn({ source: 'nats', attempt, err: { message: (err as Error).message } }, 'inbox: NATS unavailable, reconnecting');
          }
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
