// NATS JetStream driven from outside: a stream created as the inbox creates it, publishes awaiting the PubAck,
// the dead-letter stream read back, the inbox's connections cut at a proxy; and subjects and a stream of its own
// for a relay to publish to.
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos } from '@nats-io/transport-node';
import type { DeadLetter, InboxKit, InboxKitOptions, RelayKit, Seen } from '../kit.ts';
import { startTcpProxy } from '../tcp-proxy.ts';
import { nats, natsDeadLetterNames } from './index.ts';
import { ensureInboxStream } from './inbox.ts';

const URL = nats.defaultUrl;

/**
 * @example
 * const kit = await inboxKit({ label: 'test', proxied: true });
 * await kit.cutConnections();
 */
export async function inboxKit(options: InboxKitOptions): Promise<InboxKit & { deleteConsumer(): Promise<void>; pulling(): Promise<boolean> }> {
  const suffix = randomBytes(4).toString('hex');
  const stream = `ONCELY_${options.label.toUpperCase()}_${suffix}`;
  const subject = `oncely.${options.label}.${suffix}`;
  const consumer = `${options.label}-inbox`;
  const dead = natsDeadLetterNames(stream);
  const proxy = options.proxied ? await startTcpProxy(4222) : undefined;
  const nc = await connect({ servers: '127.0.0.1:4222', name: `oncely-${options.label}-publisher-${suffix}` });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  // The subject and those below it: a relay publishes to `<prefix>.<type>` (relayEnv).
  await ensureInboxStream(jsm, stream, [subject, `${subject}.>`]);
  return {
    name: 'nats',
    env: {
      INBOX_NATS_URL: proxy ? `nats://127.0.0.1:${proxy.port}` : URL,
      INBOX_NATS_STREAM: stream,
      INBOX_NATS_SUBJECT: subject,
      INBOX_NATS_CONSUMER: consumer,
      ...(options.quick ? { INBOX_NATS_PREFETCH: '20', INBOX_NATS_ACK_WAIT_SECONDS: '15' } : {}),
    },
    clientId: `nats:${stream}`,
    relayEnv: { RELAY_BROKER: 'nats', RELAY_URL: URL, RELAY_NATS_STREAM: stream, RELAY_SUBJECT_PREFIX: subject },
    async publish(body, publish = {}) {
      const h = headers();
      if (publish.key) h.set('Nats-Msg-Id', publish.key);
      const ack = await js.publish(subject, body, { headers: h, timeout: 5000 });
      return { duplicate: ack.duplicate };
    },
    async deadLetters() {
      const letters: DeadLetter[] = [];
      const info = await jsm.streams.info(dead.stream).catch(() => undefined);
      for (let seq = info?.state.first_seq ?? 1; info && seq <= info.state.last_seq; seq++) {
        const message = await jsm.streams.getMessage(dead.stream, { seq }).catch(() => null);
        if (!message) continue;
        const header = (name: string) => message.header.get(name) || undefined;
        letters.push({ key: header('Oncely-Msg-Id'), reason: header('Oncely-Reason'), detail: header('Oncely-Detail'), body: message.string() });
      }
      return letters;
    },
    async pending() {
      const info = await jsm.consumers.info(stream, consumer);
      return info.num_pending + info.num_ack_pending;
    },
    // Every connection through the proxy is the inbox's: NATS cannot close one client by name.
    cutConnections: () => Promise.resolve(proxy?.cut() ?? 0),
    async deleteConsumer() {
      await jsm.consumers.delete(stream, consumer);
    },
    /** Whether the inbox's consumer exists and has a pull request waiting: a session that is consuming. */
    async pulling() {
      const info = await jsm.consumers.info(stream, consumer).catch(() => undefined);
      return (info?.num_waiting ?? 0) > 0;
    },
    async cleanup() {
      await jsm.streams.delete(stream).catch(() => {});
      await jsm.streams.delete(dead.stream).catch(() => {});
      await nc.close().catch(() => {});
      await proxy?.close();
    },
  };
}

/**
 * @example
 * const target = relayKit();
 * const observer = await target.observe();
 */
export function relayKit(): RelayKit {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `oncelytest.${suffix}.events`;
  const stream = `ONCELY_TEST_OUTBOX_${suffix}`;
  return {
    name: 'nats',
    env: { RELAY_BROKER: 'nats', RELAY_URL: URL, RELAY_SUBJECT_PREFIX: prefix, RELAY_NATS_STREAM: stream },
    port: 4222,
    urlVia: (port) => `nats://127.0.0.1:${port}`,
    routingOf: (type) => `${prefix}.${type}`,
    async observe() {
      const nc = await connect({ servers: URL });
      const jsm = await jetstreamManager(nc);
      // A short duplicate window, so the stream keeps a re-published copy and the test can see both
      // (with the default two minutes, JetStream itself would drop the copy by its Nats-Msg-Id).
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], duplicate_window: nanos(200) });
      const seen: Seen[] = [];
      // The stream read by sequence, as stored: no consumer state that could lag or stall.
      return {
        async seen() {
          const last = (await jsm.streams.info(stream)).state.last_seq;
          for (let seq = seen.length + 1; seq <= last; seq++) {
            const m = await jsm.streams.getMessage(stream, { seq });
            if (!m) throw new Error(`stream message ${seq} is missing`);
            const headers: Record<string, string> = {};
            for (const key of m.header.keys()) headers[key] = m.header.get(key);
            seen.push({ messageId: m.header.get('Nats-Msg-Id'), routing: m.subject, body: m.string(), headers });
          }
          return [...seen];
        },
        async close() {
          await jsm.streams.delete(stream);
          await nc.close();
        },
      };
    },
  };
}
