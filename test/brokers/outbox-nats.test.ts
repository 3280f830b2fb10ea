import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { describeOutbox, type Seen } from './outbox-harness.ts';

const URL = 'nats://127.0.0.1:4222';

describeOutbox('nats', () => {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `oncelytest.${suffix}.events`;
  const stream = `ONCELY_TEST_OUTBOX_${suffix}`;
  return {
    broker: 'nats',
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
});
