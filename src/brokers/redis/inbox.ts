// The Redis Streams inbox (node-redis): a consumer group read with XREADGROUP (bounded BLOCK), XACK after
// the commit, and XAUTOCLAIM of entries another consumer left pending longer than the claim time (a dead
// consumer's). An entry holds the envelope as JSON in field `envelope` and may carry the command id in
// field `id`. XACK names the entry, not a connection, so a reconnect never makes an ack land on the wrong
// message; blocking reads get a connection of their own so acks never wait behind them.
import { createClient } from 'redis';
import type { Logger } from '../../log.ts';
import { backoffDelay, pause, type Backoff } from '../backoff.ts';
import { MAX_BODY_BYTES, type DeadLetterProblem, type Delivery, type InboxSource } from '../source.ts';
import { redisDeadLetterStream } from './index.ts';

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

/** How long an idle reader waits before it reads again (the read cannot block: see READ_SCRIPT). */
const IDLE_POLL_MS = 100;

/** The most one entry's fields may hold, all told: a body at the inbox's limit and room for the other fields. */
export const MAX_ENTRY_BYTES = MAX_BODY_BYTES + 16 * 1024;

/**
 * Reads entries for this consumer (XREADGROUP, or XAUTOCLAIM for idle ones) inside Redis, and only entries of
 * at most MAX_ENTRY_BYTES come back whole: of a larger one only its id and size reach this process (it is then
 * dead-lettered by DEAD_SCRIPT, inside Redis too). Read whole first, one oversized entry times the prefetch (up
 * to 10,000) could take the process's memory. A script cannot block, so the reader polls when idle.
 * Each result: { id, state ('ok' | 'trimmed' | 'oversized'), size, fields }.
 */
const READ_SCRIPT = `
local stream, dead = KEYS[1], KEYS[2]
local group, consumer, mode, count, from, limit, idle = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local entries
if mode == 'claim' then
  entries = redis.call('XAUTOCLAIM', stream, group, consumer, idle, '0-0', 'COUNT', count)[2]
else
  local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, from)
  entries = reply and reply[1] and reply[1][2] or {}
end
local out = {}
for _, entry in ipairs(entries) do
  local id, fields = entry[1], entry[2]
  if not fields then
    out[#out + 1] = { id, 'trimmed', 0, {} }
  else
    local size = 0
    for i = 1, #fields do size = size + #fields[i] end
    if size > limit then
      out[#out + 1] = { id, 'oversized', size, {} }
    else
      out[#out + 1] = { id, 'ok', size, fields }
    end
  end
end
return out
`;

type ScreenedEntry = [id: string, state: 'ok' | 'trimmed' | 'oversized', size: number, fields: string[]];

/** Copies an entry, by id, to the dead-letter stream with the problem beside it and acks the original; all in Redis. */
const DEAD_SCRIPT = `
local stream, dead = KEYS[1], KEYS[2]
local group, id = ARGV[1], ARGV[2]
local found = redis.call('XRANGE', stream, id, id)
if found[1] then
  local copy = {}
  for _, field in ipairs(found[1][2]) do copy[#copy + 1] = field end
  for i = 3, #ARGV do copy[#copy + 1] = ARGV[i] end
  redis.call('XADD', dead, '*', unpack(copy))
end
return redis.call('XACK', stream, group, id)
`;

/** An entry as read; `unreadBytes` set: too large to read, its fields left in Redis. */
type Entry = { id: string; message: Record<string, string>; unreadBytes?: number };

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
    const { id, message, unreadBytes } = entry;
    const problemFields = (problem: DeadLetterProblem) => ({ reason: problem.reason, detail: problem.detail, 'source-stream': stream, 'source-entry': id });
    return {
      // An entry too large to read has its fields left in Redis: no body, no key, its size instead.
      ...(unreadBytes === undefined ? { body: message['envelope'], key: message['id'] } : { body: undefined, key: undefined, unreadBytes }),
      keyName: 'entry field id',
      keyPath: 'id',
      live: () => true,
      async ack() {
        await writer.xAck(stream, group, id);
      },
      async deadLetter(problem: DeadLetterProblem) {
        if (unreadBytes !== undefined) {
          // Copied inside Redis, never read into this process.
          await writer.eval(DEAD_SCRIPT, { keys: [stream, dead], arguments: [group, id, ...Object.entries(problemFields(problem)).flat()] });
          return;
        }
        // One MULTI: the dead entry and the ack of the original go together.
        await writer
          .multi()
          .xAdd(dead, '*', { ...message, ...problemFields(problem) })
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
    for (const entry of await screened(writer, 'claim', room, '0')) {
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

  /** Entries through READ_SCRIPT: those within the size bound, as entries; oversized ones were dead-lettered in Redis. */
  async function screened(client: typeof reader, mode: 'read' | 'claim', count: number, from: '0' | '>'): Promise<Entry[]> {
    const reply = (await client.eval(READ_SCRIPT, {
      keys: [stream, dead],
      arguments: [group, consumer, mode, String(count), from, String(MAX_ENTRY_BYTES), String(options.claimIdleMs)],
    })) as ScreenedEntry[] | null;
    const entries: Entry[] = [];
    for (const [id, state, size, fields] of reply ?? []) {
      if (state === 'oversized') {
        entries.push({ id: String(id), message: {}, unreadBytes: Number(size) });
        continue;
      }
      // A pending entry trimmed from the stream comes back without fields: nothing to store, only to forget.
      if (state === 'trimmed') {
        await writer.xAck(stream, group, String(id));
        continue;
      }
      const message: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) message[String(fields[i])] = String(fields[i + 1]);
      entries.push({ id: String(id), message });
    }
    return entries;
  }

  async function read(handle: (delivery: Delivery) => Promise<void>, from: '0' | '>'): Promise<number> {
    const room = options.prefetch - inFlight.size;
    if (room <= 0) {
      await Promise.race(inFlight.values());
      return 0;
    }
    const entries = await screened(reader, 'read', room, from);
    for (const entry of entries) take(entry, handle);
    if (entries.length === 0 && from === '>') await pause(IDLE_POLL_MS, stopping.signal);
    return entries.length;
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
