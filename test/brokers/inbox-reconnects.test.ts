// A broker source that reconnects many times leaves nothing behind on its lifelong stop signal: each session
// removes the abort listener it added. Before, every reconnect added one for good. The test counts, per
// AbortSignal, the 'abort' listeners added and not removed (EventTarget's own methods, wrapped for the test).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNatsSource } from '../../src/brokers/nats/inbox.ts';
import { inboxKit as natsKit } from '../../src/brokers/nats/kit.ts';
import { createRabbitMqSource } from '../../src/brokers/rabbitmq/inbox.ts';
import { createLogger } from '../../src/log.ts';
import { waitUntil } from '../helpers/system.ts';
import { brokerKit, TEST_KIT, type BrokerKit } from './kits.ts';

const SESSIONS = 14;
let kit: BrokerKit | undefined;
/** Live 'abort' listeners per signal; the most any one signal held during the test is what a leak shows as. */
let live = new Map<AbortSignal, Set<unknown>>();
let most = 0;
// Kept to be restored, and called with the signal as `this` (call below), as EventTarget itself would.
// eslint-disable-next-line @typescript-eslint/unbound-method
const original = { add: EventTarget.prototype.addEventListener, remove: EventTarget.prototype.removeEventListener };
beforeAll(() => {
  EventTarget.prototype.addEventListener = function (this: EventTarget, type: string, listener: unknown, options?: unknown) {
    if (this instanceof AbortSignal && type === 'abort' && listener) {
      const set = live.get(this) ?? new Set();
      live.set(this, set);
      set.add(listener);
      // A once listener goes when it fires; count only while the signal has not aborted.
      if (!this.aborted) most = Math.max(most, set.size);
    }
    return original.add.call(this, type, listener as never, options as never);
  };
  EventTarget.prototype.removeEventListener = function (this: EventTarget, type: string, listener: unknown, options?: unknown) {
    if (this instanceof AbortSignal && type === 'abort') live.get(this)?.delete(listener);
    return original.remove.call(this, type, listener as never, options as never);
  };
});
afterAll(() => {
  EventTarget.prototype.addEventListener = original.add;
  EventTarget.prototype.removeEventListener = original.remove;
});
const reset = () => {
  live = new Map();
  most = 0;
};
afterEach(async () => {
  await kit?.cleanup();
  kit = undefined;
});

const log = createLogger('silent', 'test');
const backoff = { baseMs: 20, capMs: 200 };

describe('broker reconnects leave no listener behind', () => {
  it(`rabbitmq: ${SESSIONS} sessions, no listener leak`, async () => {
    kit = await brokerKit('rabbitmq');
    const connectionName = `oncely-leak-test-${process.pid}`;
    const source = createRabbitMqSource({
      url: kit.env['INBOX_RABBITMQ_URL']!,
      queue: kit.env['INBOX_RABBITMQ_QUEUE']!,
      prefetch: 5,
      clientId: 'test',
      connectionName,
      log,
      backoff,
    });
    reset();
    source.start(async (delivery) => delivery.ack());
    try {
      for (let cut = 0; cut < SESSIONS; cut++) {
        // Each cut closes the current session's connection; the next cut needs the next session.
        await waitUntil(
          () => kit!.cutConnections(connectionName),
          (n) => n === 1,
          30_000,
          `session ${cut + 1}`,
        );
      }
      // A session holds a few (its own, a pause's); a leak holds one per session ever run.
      expect(most).toBeLessThan(5);
    } finally {
      await source.stop();
    }
  });

  it(`nats: ${SESSIONS} sessions (the consumer deleted under it each time), no listener leak`, async () => {
    const nats = await natsKit(TEST_KIT);
    kit = nats;
    const source = createNatsSource({
      url: nats.env['INBOX_NATS_URL']!,
      stream: nats.env['INBOX_NATS_STREAM']!,
      subject: nats.env['INBOX_NATS_SUBJECT']!,
      consumer: nats.env['INBOX_NATS_CONSUMER']!,
      prefetch: 5,
      ackWaitMs: 15_000,
      maxDeliver: 5,
      clientId: 'test',
      connectionName: 'oncely-leak-test',
      log,
      backoff,
    });
    reset();
    source.start(async (delivery) => delivery.ack());
    // A session counts once it is consuming (a pull request waiting), not as soon as its consumer exists: a
    // consumer deleted between its creation and the first pull may go unnoticed until the idle heartbeat.
    try {
      for (let session = 0; session < SESSIONS; session++) {
        await waitUntil(() => nats.pulling(), Boolean, 30_000, `session ${session + 1}'s consumer`);
        await nats.deleteConsumer();
      }
      await waitUntil(() => nats.pulling(), Boolean, 30_000, 'the last session');
      expect(most).toBeLessThan(5);
    } finally {
      await source.stop();
    }
  });
});
