// The workload: accounts (a few hot), money moving between them, orders through their state machine with
// pay-against-cancel races, several red-packet issues per order, re-sends under the same id (some at the
// same moment), a few re-sends with a different request, a few poison commands, and open-loop bursts: a few
// hundred to a few thousand mixed commands over a few hot entities fired all at once, with no think time.
import type { BrokerFeed } from './brokers.ts';
import { isTerminalStatus, type ChaosClient } from './client.ts';
import type { Envelope, History, SeenStatus } from './history.ts';
import { POISON_TYPE } from './poison.ts';
import { createRandom, type Random } from './random.ts';

export interface WorkloadOptions {
  seed: number;
  /** Distinct command ids to submit (re-sends not counted). */
  commands: number;
  /** The run is paced to spread the commands over this long. */
  durationMs: number;
  /** Scenarios running at once. */
  concurrency: number;
  accounts: number;
  hotAccounts: number;
  client: ChaosClient;
  history: History;
  log: (line: string) => void;
  /** Open-loop bursts at fixed moments on top of the paced commands (0: none), and how many commands each fires. */
  bursts?: number;
  burstSize?: number;
  /** At most this many more bursts fired by the run into faults (burstTrigger). */
  faultBursts?: number;
  /** Requests of a burst in flight at once (its only bound: no think time, no waiting for answers to pace). */
  burstInFlight?: number;
  /** Handed a function that fires a burst at once (up to faultBursts of them), so the run can fire bursts into faults. */
  burstTrigger?: (fire: (reason: string) => void) => void;
  /**
   * Brokers that take `share` (0..1) of the paced commands instead of HTTP: each is published with its id as
   * the broker's message id, some twice, and its outcome read from its row under the inbox's client id.
   */
  feed?: (Pick<BrokerFeed, 'brokers' | 'publish' | 'outcome'> & { share: number }) | undefined;
  /** Told the share (0..1) of the paced commands issued so far, after each one (the nemesis stops at the tail). */
  onProgress?: (share: number) => void;
}

export interface BurstRecord {
  index: number;
  reason: string;
  commands: number;
  firedAt: number;
  /** When the last request of the burst was answered (or given up). */
  sentAt: number;
}

export interface WorkloadResult {
  issued: number;
  scenarios: number;
  poison: number;
  unsupportedTypes: string[];
  elapsedMs: number;
  bursts: BurstRecord[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stable 32-bit stream number for a name (FNV-1a). */
function streamOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** How long one command may take, re-sends and waits included, before the workload gives up on it. */
const COMMAND_DEADLINE_MS = 120_000;
const DIFFERENT_PAYLOAD_RATE = 0.005;

/**
 * Runs the workload to completion.
 *
 * @example
 * const result = await runWorkload({ seed: 1, commands: 5000, durationMs: 120_000, concurrency: 24, accounts: 40, hotAccounts: 4, client, history, log });
 */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const { client, history, log } = options;
  const started = Date.now();
  const unsupported = new Set<string>();
  let issued = 0;
  let scenarios = 0;
  let poisonCount = 0;
  let pacedIssued = 0;

  const accountIds = Array.from({ length: options.accounts }, (_, i) => `acct-${String(i).padStart(3, '0')}`);
  const hot = accountIds.slice(0, options.hotAccounts);
  const pickAccount = (r: Random) => (r.chance(0.5) ? r.pick(hot) : r.pick(accountIds));

  const supported = (type: string) => !unsupported.has(type);

  // Holds the run to its pace: the i-th command goes out no sooner than i/N of the duration.
  const pace = async () => {
    for (let i = 0; i < 100_000; i++) {
      const allowed = ((Date.now() - started) / options.durationMs) * options.commands + options.concurrency;
      if (pacedIssued < allowed) return;
      await sleep(20);
    }
  };

  /** Submits one new command (with its re-sends) and returns what it ended as, if the client learnt that. */
  async function issue(envelope: Envelope, poison = false): Promise<SeenStatus | undefined> {
    if (!supported(envelope.type)) return undefined;
    // Each command draws from a stream of its own, so timing cannot change what is sent.
    const r = createRandom(options.seed, streamOf(envelope.id));
    await pace();
    issued++;
    pacedIssued++;
    options.onProgress?.(pacedIssued / options.commands);
    const deadline = Date.now() + COMMAND_DEADLINE_MS;
    const feed = options.feed;
    // Whether it goes through a broker is drawn from a stream of its own, so a run without brokers sends
    // exactly what it sent before brokers existed.
    const route = feed && !poison ? createRandom(options.seed, streamOf(`${envelope.id}#broker`)) : undefined;
    if (feed && route?.chance(feed.share)) {
      const broker = route.pick(feed.brokers);
      history.register(envelope, poison, broker);
      // A producer that re-publishes: at the same moment (its confirm was slow) or after the command ended.
      const again = route.weighted({ once: 70, now: 20, later: 10 });
      if (again === 'now') await Promise.all([feed.publish(broker, envelope, deadline), feed.publish(broker, envelope, deadline)]);
      else await feed.publish(broker, envelope, deadline);
      const outcome = await feed.outcome(broker, envelope.id, deadline);
      if (again === 'later') await feed.publish(broker, envelope, deadline);
      return outcome;
    }
    history.register(envelope, poison);
    const mode = r.weighted({ single: 70, concurrent: 15, later: 15 });
    const wait = r.chance(0.8) ? 5 : undefined;
    let answer;
    if (mode === 'concurrent') {
      const copies = Array.from({ length: r.int(1, 2) }, () => client.send(envelope, 'concurrent', wait));
      [answer] = await Promise.all([client.submit(envelope, deadline, wait), ...copies]);
    } else {
      answer = await client.submit(envelope, deadline, wait);
    }
    if (answer.op.outcome === 'failed') {
      if (answer.problem === 'unknown_command_type' && !unsupported.has(envelope.type)) {
        unsupported.add(envelope.type);
        log(`note: the API does not know ${envelope.type} (400 unknown_command_type); the workload skips it from now on`);
      }
      return undefined;
    }
    if (answer.op.outcome !== 'ok') return undefined;
    let seen = answer.op.seen;
    if (!isTerminalStatus(seen?.status)) seen = await client.settle(envelope.id, deadline);
    if (mode === 'later') await client.send(envelope, 'resend', r.chance(0.5) ? 1 : undefined);
    if (r.chance(DIFFERENT_PAYLOAD_RATE)) {
      const amount = envelope.payload['amount'];
      const altered =
        typeof amount === 'number' ? { ...envelope, payload: { ...envelope.payload, amount: amount + 1 } } : { ...envelope, entityId: `${envelope.entityId}-x` };
      await client.send(altered, 'different');
    }
    return seen;
  }

  const succeeded = (seen: SeenStatus | undefined) => seen?.status === 'succeeded';

  async function accountScenario(r: Random, k: number) {
    const kind = r.weighted({ credit: 30, debit: 25, transfer: 35, stale: 5, reopen: 5 });
    const id = `s${k}`;
    if (kind === 'credit') {
      await issue({ id, type: 'account.credit', entityId: pickAccount(r), payload: { amount: r.int(1, 5000) } });
    } else if (kind === 'debit') {
      await issue({ id, type: 'account.debit', entityId: pickAccount(r), payload: { amount: r.int(1, 4000) } });
    } else if (kind === 'transfer') {
      const from = pickAccount(r);
      let to = pickAccount(r);
      if (to === from) to = r.pick(accountIds);
      // Now and then a transfer to itself: rejected same_account, no trace.
      await issue({ id, type: 'account.transfer', entityId: from, payload: { to, amount: r.int(1, 3000) } });
    } else if (kind === 'stale') {
      // A credit with an expectedVersion that is often stale by the time it applies: conflict, no trace.
      await issue({ id, type: 'account.credit', entityId: r.pick(hot), expectedVersion: r.int(1, 50), payload: { amount: r.int(1, 100) } });
    } else {
      await issue({ id, type: 'account.open', entityId: pickAccount(r), payload: {} });
    }
  }

  async function redPackets(r: Random, k: number, order: string) {
    if (!supported('redPacket.issue')) return;
    // Several issues for one order at once: the partial unique index lets one live packet through.
    const tries = r.int(2, 4);
    const ids = Array.from({ length: tries }, (_, j) => `rp${k}-${j}`);
    const results = await Promise.all(
      ids.map((id) =>
        issue({ id: `s${k}-rpi${id}`, type: 'redPacket.issue', entityId: id, payload: { orderId: order, accountId: pickAccount(r), amount: r.int(10, 500) } }),
      ),
    );
    const winner = ids.find((_, j) => succeeded(results[j]));
    if (!winner) return;
    if (r.chance(0.6)) {
      await issue({ id: `s${k}-rpp`, type: 'redPacket.pay', entityId: winner, payload: {} });
      if (r.chance(0.3)) await issue({ id: `s${k}-rpc`, type: 'redPacket.cancel', entityId: winner, payload: {} });
    } else {
      const cancelled = await issue({ id: `s${k}-rpc`, type: 'redPacket.cancel', entityId: winner, payload: {} });
      if (succeeded(cancelled)) {
        // The order is free again: a new packet may be issued (unless the order was cancelled meanwhile).
        const again = `rp${k}-${tries}`;
        const reissued = await issue({
          id: `s${k}-rpi${again}`,
          type: 'redPacket.issue',
          entityId: again,
          payload: { orderId: order, accountId: pickAccount(r), amount: r.int(10, 500) },
        });
        if (succeeded(reissued) && r.chance(0.5)) await issue({ id: `s${k}-rpp2`, type: 'redPacket.pay', entityId: again, payload: {} });
      }
    }
  }

  async function orderScenario(r: Random, k: number) {
    const order = `ord${k}`;
    const created = await issue({ id: `s${k}-create`, type: 'order.create', entityId: order, payload: { accountId: pickAccount(r), amount: r.int(100, 3000) } });
    if (!succeeded(created)) return;
    const step = (name: string, type: string) => issue({ id: `s${k}-${name}`, type, entityId: order, payload: {} });
    const flow = async () => {
      const variant = r.weighted({ race: 35, happy: 30, refund: 15, cancelFirst: 10, illegal: 10 });
      if (variant === 'race') {
        // Pay against cancel, sent together: one order of events wins, and the money must agree with it.
        const [paid] = await Promise.all([step('pay', 'order.pay'), step('cancel', 'order.cancel')]);
        if (succeeded(paid) && r.chance(0.5)) {
          if (succeeded(await step('ship', 'order.ship'))) await step('complete', 'order.complete');
        }
      } else if (variant === 'happy') {
        if (succeeded(await step('pay', 'order.pay')) && succeeded(await step('ship', 'order.ship'))) await step('complete', 'order.complete');
      } else if (variant === 'refund') {
        if (succeeded(await step('pay', 'order.pay'))) await step('cancel', 'order.cancel');
      } else if (variant === 'cancelFirst') {
        await step('cancel', 'order.cancel');
        await step('pay', 'order.pay');
      } else {
        await step('ship', 'order.ship');
        await step('pay', 'order.pay');
        await step('complete', 'order.complete');
        await step('ship2', 'order.ship');
        await step('cancel', 'order.cancel');
      }
    };
    // The order's own steps and its red packets run side by side, each drawing from a stream of its own.
    const packets = r.chance(0.6) ? redPackets(createRandom(options.seed, streamOf(`${order}-packets`)), k, order) : Promise.resolve();
    await Promise.all([flow(), packets]);
  }

  // Setup: open every account and fund it.
  await Promise.all(accountIds.map((id) => issue({ id: `open-${id}`, type: 'account.open', entityId: id, payload: {} })));
  await Promise.all(accountIds.map((id) => issue({ id: `fund-${id}`, type: 'account.credit', entityId: id, payload: { amount: 50_000 } })));

  // Poison commands, spread over the run, each on its own.
  const poisonTotal = Math.max(3, Math.round(options.commands / 1000));
  const poisons = Array.from({ length: poisonTotal }, async (_, i) => {
    await sleep(((i + 0.5) / poisonTotal) * options.durationMs * 0.8);
    poisonCount++;
    await issue({ id: `poison-${i}`, type: POISON_TYPE, entityId: `poison-${i}`, payload: { note: 'always fails' } }, true);
  });

  // --- Open-loop bursts: many commands over a few hot entities at once. The orders and red packets they
  // act on are created up front (paced, like the rest), so a burst needs nothing but PostgreSQL to be sent.
  const timedBursts = options.bursts ?? 0;
  const faultBursts = options.faultBursts ?? 0;
  const burstSize = options.burstSize ?? 0;
  const burstHot = hot.slice(0, Math.max(1, Math.min(5, hot.length)));
  const burstOrders = (b: number) => Array.from({ length: 3 }, (_, j) => `burst${b}-ord${j}`);
  const burstRecords: BurstRecord[] = [];
  const burstRuns: Promise<void>[] = [];
  let burstsFired = 0;
  let faultBurstsFired = 0;
  async function runBurst(b: number, reason: string): Promise<void> {
    const firedAt = Date.now();
    const r = createRandom(options.seed, streamOf(`burst-${b}`));
    const orders = burstOrders(b).filter((order) => history.commands.get(`burst${b}-create-${order}`) !== undefined);
    const packets: string[] = [];
    const envelopes: Envelope[] = [];
    for (let i = 0; i < burstSize; i++) {
      const id = `b${b}-${i}`;
      const kinds: Record<string, number> = { credit: 20, debit: 20, transfer: 26 };
      if (orders.length > 0) Object.assign(kinds, { pay: 8, cancel: 6, ship: 3, complete: 2, rpIssue: 8 });
      if (packets.length > 0) Object.assign(kinds, { rpPay: 5, rpCancel: 3 });
      const kind = r.weighted(kinds);
      const account = r.pick(burstHot);
      if (kind === 'credit') envelopes.push({ id, type: 'account.credit', entityId: account, payload: { amount: r.int(1, 2000) } });
      else if (kind === 'debit') envelopes.push({ id, type: 'account.debit', entityId: account, payload: { amount: r.int(1, 2000) } });
      else if (kind === 'transfer') {
        let to = r.pick(burstHot);
        if (to === account && burstHot.length > 1 && r.chance(0.9)) to = burstHot[(burstHot.indexOf(account) + 1) % burstHot.length] as string;
        envelopes.push({ id, type: 'account.transfer', entityId: account, payload: { to, amount: r.int(1, 1500) } });
      } else if (kind === 'rpIssue') {
        packets.push(`b${b}-rp${i}`);
        envelopes.push({ id, type: 'redPacket.issue', entityId: `b${b}-rp${i}`, payload: { orderId: r.pick(orders), accountId: account, amount: r.int(10, 300) } });
      } else if (kind === 'rpPay' || kind === 'rpCancel') {
        envelopes.push({ id, type: kind === 'rpPay' ? 'redPacket.pay' : 'redPacket.cancel', entityId: r.pick(packets), payload: {} });
      } else {
        envelopes.push({ id, type: `order.${kind}`, entityId: r.pick(orders), payload: {} });
      }
    }
    const ready = envelopes.filter((envelope) => supported(envelope.type));
    for (const envelope of ready) {
      issued++;
      history.register(envelope);
    }
    log(
      `burst ${b + 1} (${reason}): ${ready.length} commands over ${burstHot.length} hot accounts and ${orders.length} orders, ${options.burstInFlight ?? 64} in flight`,
    );
    let cursor = 0;
    const sender = async () => {
      while (cursor < ready.length) {
        const envelope = ready[cursor++] as Envelope;
        const c = createRandom(options.seed, streamOf(envelope.id));
        const deadline = Date.now() + COMMAND_DEADLINE_MS;
        // No think time and no waiting for outcomes: 202 Accepted at once (a few ask to wait). Some are sent
        // twice at the same moment, like the paced clients do; an unknown answer is re-sent until definite.
        const wait = c.chance(0.1) ? 5 : undefined;
        if (c.chance(0.15)) await Promise.all([client.submit(envelope, deadline, wait), client.send(envelope, 'concurrent', wait)]);
        else await client.submit(envelope, deadline, wait);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.burstInFlight ?? 64) }, sender));
    const sentAt = Date.now();
    burstRecords.push({ index: b, reason, commands: ready.length, firedAt, sentAt });
    log(`burst ${b + 1} sent in ${((sentAt - firedAt) / 1000).toFixed(1)}s`);
    // Read back a tenth of them once they end, so their answers are checked against the stored outcome too.
    const sample = ready.filter((_, i) => i % 10 === 0);
    let at = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (at < sample.length) {
          const envelope = sample[at++] as Envelope;
          await client.settle(envelope.id, Date.now() + COMMAND_DEADLINE_MS);
        }
      }),
    );
  }
  const fireBurst = (reason: string) => {
    if (burstSize <= 0) return;
    const b = burstsFired++;
    burstRuns.push(runBurst(b, reason));
  };
  options.burstTrigger?.((reason) => {
    if (faultBurstsFired >= faultBursts) return;
    faultBurstsFired++;
    fireBurst(reason);
  });

  if (timedBursts + faultBursts > 0 && burstSize > 0) {
    // Each burst's few hot orders (three), created before any burst can fire.
    await Promise.all(
      Array.from({ length: timedBursts + faultBursts }, (_, b) =>
        Promise.all(
          burstOrders(b).map((order, j) =>
            issue({
              id: `burst${b}-create-${order}`,
              type: 'order.create',
              entityId: order,
              payload: { accountId: burstHot[j % burstHot.length], amount: 100 + 37 * j },
            }),
          ),
        ),
      ),
    );
  }
  // The timed bursts go out at fixed moments from 15% to 60% of the duration.
  const timed = Array.from({ length: timedBursts }, async (_, i) => {
    await sleep(Math.max(0, started + options.durationMs * (0.15 + (0.45 * i) / Math.max(1, timedBursts - 1)) - Date.now()));
    fireBurst(`at ${Math.round(((Date.now() - started) / options.durationMs) * 100)}% of the duration`);
  });

  let next = 0;
  const lane = async () => {
    while (pacedIssued < options.commands) {
      const k = next++;
      scenarios++;
      const r = createRandom(options.seed, 1000 + k);
      if (r.chance(0.4) && supported('order.create')) await orderScenario(r, k);
      else await accountScenario(r, k);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  await Promise.all(poisons);
  await Promise.all(timed);
  await Promise.all(burstRuns);
  return { issued, scenarios, poison: poisonCount, unsupportedTypes: [...unsupported], elapsedMs: Date.now() - started, bursts: burstRecords };
}
