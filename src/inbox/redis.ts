// The Redis Streams inbox (node-redis): a consumer group read with XREADGROUP (bounded BLOCK), XACK after
// the commit, and XAUTOCLAIM of entries another consumer left pending longer than the claim time (a dead
// consumer's). An entry holds the envelope as JSON in field `envelope` and may carry the command id in
// field `id`. XACK names the entry, not a connection, so a reconnect never makes an ack land on the wrong
// message; blocking reads get a connection of their own so acks never wait behind them.
import { createClient } from 'redis';
import type { Logger } from '../log.ts';
import { backoffDelay, pause, type Backoff } from './backoff.ts';
import type { DeadLetterProblem, Delivery, InboxSource } from './inbox.ts';

export interface RedisSourceOptions {
  url: string;
  stream: string;
  group: string;
  /** This process's consumer name in the group (unique per process: pending entries are per consumer). */
  consumer: string;
  /** Entries in hand at once (XREADGROUP COUNT). */
  prefetch: number;
  /** Entries pending longer than this (their consumer died) are claimed by this one. */
  claimIdleMs: number;
  /** Deliveries (XPENDING count) after which a claimed entry goes to the dead-letter stream. */
  maxDeliveries: number;
  clientId: string;
  connectionName: string;
  log: Logger;
  backoff: Backoff;
}

/** The dead-letter stream that goes with `stream`. */
export const redisDeadLetterStream = (stream: string) => `${stream}:dead`;

/** The longest one XREADGROUP blocks, so stop and the claim sweep are never kept waiting longer. */
const BLOCK_MS = 1000;

type Entry = { id: string; message: Record<string, string> };

/**
 * @example
 * const source = createRedisSource({ url: 'redis://127.0.0.1:6379', stream: 'oncely:commands', group: 'oncely', consumer: 'inbox-1', prefetch: 50, claimIdleMs: 60_000, maxDeliveries: 20, clientId: 'redis:oncely:commands', connectionName: 'oncely-inbox', log, backoff: DEFAULT_BACKOFF });
 * source.start(handle);
 */
export function createRedisSource(options: RedisSourceOptions): InboxSource {
  const { stream, group, consumer, log } = options;
  const dead = redisDeadLetterStream(stream);
  const stopping = new AbortController();
  const inFlight = new Map<string, Promise<void>>();
  let running: Promise<void> | undefined;

  const clientOptions = {
    url: options.url,
    name: options.connectionName,
    socket: { reconnectStrategy: (retries: number) => backoffDelay(retries, options.backoff) },
  };
  const reader = createClient(clientOptions);
  const writer = createClient({ ...clientOptions, name: `${options.connectionName}-ack` });
  for (const client of [reader, writer]) {
    client.on('error', (err: Error) => log.debug({ source: 'redis', err: { message: err.message } }, 'inbox: Redis connection error'));
  }

  function deliveryOf(entry: Entry): Delivery {
    const { id, message } = entry;
    return {
      body: message['envelope'],
      key: message['id'],
      keyName: 'entry field id',
      keyPath: 'id',
      live: () => true,
      async ack() {
        await writer.xAck(stream, group, id);
      },
      async deadLetter(problem: DeadLetterProblem) {
        // One MULTI: the dead entry and the ack of the original go together.
        await writer
          .multi()
          .xAdd(dead, '*', { ...message, reason: problem.reason, detail: problem.detail, 'source-stream': stream, 'source-entry': id })
          .xAck(stream, group, id)
          .exec();
      },
    };
  }

  function take(entry: Entry, handle: (delivery: Delivery) => Promise<void>): void {
    if (inFlight.has(entry.id)) return;
    const task = handle(deliveryOf(entry)).finally(() => inFlight.delete(entry.id));
    inFlight.set(entry.id, task);
  }

  async function ensureGroup(): Promise<void> {
    try {
      await writer.xGroupCreate(stream, group, '0', { MKSTREAM: true });
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
    }
  }

  /**
   * Claims every entry in hand for this consumer again, which resets its idle time (JUSTID leaves its delivery
   * count alone), so no consumer's claim sweep takes it while it is held, however long PostgreSQL is down.
   * Runs on a timer of its own, not with submit attempts, so a slow attempt cannot let an entry go idle.
   */
  async function extendHeld(): Promise<void> {
    const ids = [...inFlight.keys()];
    if (ids.length === 0 || !writer.isReady) return;
    await writer.xClaimJustId(stream, group, consumer, 0, ids);
  }

  /**
   * Entries whose consumer died: claimed for this one; a poison entry (delivered too often) goes to dead.
   * XAUTOCLAIM also returns this consumer's own idle entries: one still in hand is skipped before its
   * delivery count is looked at, so a held entry is never dead-lettered while its submission may yet commit.
   */
  async function claimIdle(handle: (delivery: Delivery) => Promise<void>): Promise<void> {
    const room = options.prefetch - inFlight.size;
    if (room <= 0) return;
    const { messages } = await writer.xAutoClaim(stream, group, consumer, options.claimIdleMs, '0-0', { COUNT: room });
    for (const message of messages) {
      if (!message) continue;
      const entry = { id: String(message.id), message: message.message as Record<string, string> };
      if (inFlight.has(entry.id)) continue;
      const [pending] = await writer.xPendingRange(stream, group, entry.id, entry.id, 1);
      if (pending && Number(pending.deliveriesCounter) > options.maxDeliveries) {
        await deliveryOf(entry).deadLetter({ reason: 'too_many_deliveries', detail: `delivered ${pending.deliveriesCounter} times without being settled` });
        log.warn({ source: 'redis', entry: entry.id, deliveries: pending.deliveriesCounter }, 'inbox: entry dead-lettered after too many deliveries');
        continue;
      }
      take(entry, handle);
    }
  }

  async function read(handle: (delivery: Delivery) => Promise<void>, from: '0' | '>'): Promise<number> {
    const room = options.prefetch - inFlight.size;
    if (room <= 0) {
      await Promise.race(inFlight.values());
      return 0;
    }
    const reply = await reader.xReadGroup(group, consumer, { key: stream, id: from }, { COUNT: room, BLOCK: BLOCK_MS });
    let count = 0;
    const streams = (reply ?? []) as { messages: { id: string; message: Record<string, string> | null }[] }[];
    for (const { messages } of streams) {
      for (const message of messages) {
        count++;
        // A pending entry trimmed from the stream comes back without fields: nothing to store, only to forget.
        if (!message.message) {
          await writer.xAck(stream, group, String(message.id));
          continue;
        }
        take({ id: String(message.id), message: message.message }, handle);
      }
    }
    return count;
  }

  return {
    name: 'redis',
    clientId: options.clientId,
    start(handle) {
      if (running) return;
      const wrapped = async (delivery: Delivery) => {
        await handle(delivery).catch((err: unknown) =>
          log.error({ source: 'redis', err: { message: (err as Error).message } }, 'inbox: delivery failed; left pending for a claim'),
        );
      };
      const extender = setInterval(
        () => void extendHeld().catch((err: unknown) => log.debug({ source: 'redis', err: { message: (err as Error).message } }, 'inbox: could not extend held entries')),
        Math.max(100, Math.floor(options.claimIdleMs / 3)),
      );
      stopping.signal.addEventListener('abort', () => clearInterval(extender), { once: true });
      running = (async () => {
        let attempt = 0;
        let ownPendingRead = false;
        let lastClaim = 0;
        while (!stopping.signal.aborted) {
          try {
            if (!reader.isOpen) await reader.connect();
            if (!writer.isOpen) await writer.connect();
            await ensureGroup();
            // This consumer's own entries left pending by an earlier life of the process come first (beyond
            // one read's worth, the claim sweep takes them once they are idle).
            if (!ownPendingRead) {
              await read(wrapped, '0');
              ownPendingRead = true;
              log.info({ source: 'redis', stream, group, consumer }, 'inbox: consuming');
            }
            if (Date.now() - lastClaim >= Math.min(options.claimIdleMs / 2, 10_000)) {
              lastClaim = Date.now();
              await claimIdle(wrapped);
            }
            await read(wrapped, '>');
            attempt = 0;
          } catch (err) {
            if (stopping.signal.aborted) break;
            log.warn({ source: 'redis', attempt, err: { message: (err as Error).message } }, 'inbox: Redis unavailable, retrying');
            await pause(backoffDelay(attempt++, options.backoff), stopping.signal);
          }
        }
      })();
    },
    async stop() {
      stopping.abort();
      await running;
      await Promise.allSettled([...inFlight.values()]);
      for (const client of [reader, writer]) if (client.isOpen) await client.close().catch(() => client.destroy());
    },
  };
}
