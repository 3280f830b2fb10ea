// Model-based property test: random streams of commands over a few accounts, orders and red packets,
// with re-submitted ids, reused ids, stale versions, illegal transitions and concurrent submission,
// run through the real processor and PostgreSQL and compared with the in-memory model in ./model.ts.
//
// Concurrent commands may be applied in any order, so the check keeps every world the model reaches by
// some serial order that explains exactly the outcomes the clients saw; the database must end in one
// of them. Replay a run with ONCELY_PROP_SEED=<seed> (ONCELY_PROP_RUNS=<n> for more or fewer runs, and
// ONCELY_PROP_PATH=<path> from a failure report to replay just its shrunk counterexample).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal, type CommandStatus } from '../../src/core/envelope.ts';
import type { System } from '../../src/system.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestSystem } from '../helpers/system.ts';
import {
  applyToModel,
  emptyWorld,
  permutations,
  stableStringify,
  worldKey,
  type ModelCommand,
  type ModelOrder,
  type ModelRedPacket,
  type Seen,
  type World,
} from './model.ts';

const SEED = process.env['ONCELY_PROP_SEED'] ? Number(process.env['ONCELY_PROP_SEED']) : Math.floor(Math.random() * 2 ** 31);
const RUNS = process.env['ONCELY_PROP_RUNS'] ? Number(process.env['ONCELY_PROP_RUNS']) : 8;
/** How long fast-check may run before it stops and fails (ONCELY_PROP_TIME_LIMIT_MS; the test's own timeout is 180 s). */
const TIME_LIMIT_MS = process.env['ONCELY_PROP_TIME_LIMIT_MS'] ? Number(process.env['ONCELY_PROP_TIME_LIMIT_MS']) : 150_000;
/** fast-check's `path` from a failure report: replays exactly the shrunk counterexample. */
const PATH = process.env['ONCELY_PROP_PATH'];
const CLIENT = 'anonymous';
/** Worlds kept at once; concurrent groups are small, so this is never reached in practice. */
const MAX_WORLDS = 200;

let db: TestDatabase;
let system: System;
let workers: System[] = [];

/**
 * The processor must tell the same serial story however commands are grouped: one command per transaction,
 * and large batches where many commands share one transaction and one set of statements; each with a
 * second worker process's worth of workers racing the first.
 */
const SETUPS = [
  { name: 'batches of one', env: { WORKER_CONCURRENCY: '4', WORKER_BATCH_SIZE: '1' } },
  { name: 'large batches', env: { WORKER_CONCURRENCY: '2', WORKER_BATCH_SIZE: '100' } },
];

// ---- what the generator produces: commands over entity indices, and steps that submit them ----

type Version = number | undefined;
type Spec =
  | { type: 'account.open'; a: number; v: Version }
  | { type: 'account.credit' | 'account.debit'; a: number; amount: number; v: Version }
  | { type: 'account.transfer'; a: number; to: number; amount: number; v: Version }
  | { type: 'order.create'; o: number; a: number; amount: number; v: Version }
  | { type: 'order.pay' | 'order.ship' | 'order.complete' | 'order.cancel'; o: number; v: Version }
  | { type: 'redPacket.issue'; r: number; o: number; a: number; amount: number; v: Version }
  | { type: 'redPacket.pay' | 'redPacket.cancel'; r: number; v: Version };

type Step =
  | { kind: 'one'; spec: Spec }
  /** Submitted at once; `twice` submits the first command a second time, concurrently, under the same id. */
  | { kind: 'together'; specs: Spec[]; twice: boolean }
  /** The same id and request again: the stored status comes back and nothing is applied. */
  | { kind: 'resubmit'; back: number }
  /** The same id with a different request: refused, nothing stored. */
  | { kind: 'reuse'; back: number }
  /** A run of commands that walks one entity along its state machine (random streams rarely get far). */
  | { kind: 'walk'; specs: Spec[] };

const ACCOUNTS = 4; // a0..a2 are opened first; a3 only if the stream opens it
const ORDERS = 3; // o0 and o1 are created first
const RED_PACKETS = 4;

const version: fc.Arbitrary<Version> = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 }) });
const account = fc.integer({ min: 0, max: ACCOUNTS - 1 });
const order = fc.integer({ min: 0, max: ORDERS - 1 });
const redPacket = fc.integer({ min: 0, max: RED_PACKETS - 1 });
const amount = (max: number) => fc.integer({ min: 1, max });

const spec: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ type: fc.constant('account.open' as const), a: account, v: version }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constantFrom('account.credit' as const, 'account.debit' as const), a: account, amount: amount(400), v: version }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('account.transfer' as const), a: account, to: account, amount: amount(300), v: version }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('order.create' as const), o: order, a: account, amount: amount(300), v: version }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('order.pay' as const), o: order, v: version }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('order.ship' as const), o: order, v: version }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('order.complete' as const), o: order, v: version }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('order.cancel' as const), o: order, v: version }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('redPacket.issue' as const), r: redPacket, o: order, a: account, amount: amount(100), v: version }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constantFrom('redPacket.pay' as const, 'redPacket.cancel' as const), r: redPacket, v: version }) },
);

// create? -> pay -> ship -> complete, cut short anywhere, maybe cancelled where it stopped.
const orderWalk: fc.Arbitrary<Spec[]> = fc
  .record({ o: order, a: account, amount: amount(300), create: fc.boolean(), steps: fc.integer({ min: 1, max: 3 }), cancel: fc.boolean() })
  .map(({ o, a, amount, create, steps, cancel }) => [
    ...(create ? [{ type: 'order.create' as const, o, a, amount, v: undefined }] : []),
    ...(['order.pay', 'order.ship', 'order.complete'] as const).slice(0, steps).map((type) => ({ type, o, v: undefined })),
    ...(cancel ? [{ type: 'order.cancel' as const, o, v: undefined }] : []),
  ]);
// issue -> pay or cancel
const redPacketWalk: fc.Arbitrary<Spec[]> = fc
  .record({ r: redPacket, o: order, a: account, amount: amount(100), then: fc.constantFrom('redPacket.pay' as const, 'redPacket.cancel' as const) })
  .map(({ r, o, a, amount, then }) => [
    { type: 'redPacket.issue' as const, r, o, a, amount, v: undefined },
    { type: then, r, v: undefined },
  ]);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('walk' as const), specs: fc.oneof(orderWalk, redPacketWalk) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('one' as const), spec }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('together' as const), specs: fc.array(spec, { minLength: 2, maxLength: 4 }), twice: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resubmit' as const), back: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuse' as const), back: fc.nat(50) }) },
);

// ---- running a stream against the real system and the model ----

function toCommand(prefix: string, id: string, s: Spec): ModelCommand {
  const acc = (i: number) => `${prefix}a${i}`;
  const ord = (i: number) => `${prefix}o${i}`;
  const rp = (i: number) => `${prefix}r${i}`;
  const base = { id, type: s.type, expectedVersion: s.v };
  switch (s.type) {
    case 'account.open':
      return { ...base, entityId: acc(s.a), payload: { currency: 'CNY' } };
    case 'account.credit':
    case 'account.debit':
      return { ...base, entityId: acc(s.a), payload: { amount: s.amount } };
    case 'account.transfer':
      return { ...base, entityId: acc(s.a), payload: { to: acc(s.to), amount: s.amount } };
    case 'order.create':
      return { ...base, entityId: ord(s.o), payload: { accountId: acc(s.a), amount: s.amount } };
    case 'order.pay':
    case 'order.ship':
    case 'order.complete':
    case 'order.cancel':
      return { ...base, entityId: ord(s.o), payload: {} };
    case 'redPacket.issue':
      return { ...base, entityId: rp(s.r), payload: { orderId: ord(s.o), accountId: acc(s.a), amount: s.amount } };
    case 'redPacket.pay':
    case 'redPacket.cancel':
      return { ...base, entityId: rp(s.r), payload: {} };
  }
}

async function submit(command: ModelCommand) {
  const [submission] = await system.commands.submit(CLIENT, [command]);
  if (!submission) throw new Error(`no submission for ${command.id}`);
  return submission;
}

async function ended(id: string): Promise<CommandStatus> {
  const status = await system.commands.waitFor(CLIENT, id, 20);
  if (!status || !isTerminal(status.status)) throw new Error(`command ${id} did not end within 20 s: ${JSON.stringify(status)}`);
  if (status.status === 'dead') throw new Error(`command ${id} ended dead: ${JSON.stringify(status.error)}`);
  return status;
}

function seenOf(status: CommandStatus): Seen {
  if (status.status === 'succeeded') return { status: 'succeeded', result: status.result };
  if (status.status === 'rejected' || status.status === 'conflict') {
    return { status: status.status, code: status.error?.code ?? '', details: status.error?.details ?? null };
  }
  throw new Error(`command ${status.id} is ${status.status}, not an outcome the model knows`);
}

/**
 * Every world reachable from `worlds` by applying `commands` in some order such that each command's
 * outcome is exactly the one observed.
 */
function advance(worlds: World[], commands: ModelCommand[], observed: Map<string, Seen>): World[] {
  const next = new Map<string, World>();
  for (const world of worlds) {
    for (const order of permutations(commands)) {
      let current: World | null = world;
      for (const command of order) {
        const { seen, world: after } = applyToModel(current, command);
        if (stableStringify(seen) !== stableStringify(observed.get(command.id))) {
          current = null;
          break;
        }
        current = after;
      }
      if (current) next.set(worldKey(current), current);
      if (next.size > MAX_WORLDS) throw new Error('too many candidate worlds');
    }
  }
  if (next.size === 0) {
    const lines = commands.map((c) => `  ${c.id} ${c.type} ${c.entityId} v=${c.expectedVersion} ${JSON.stringify(c.payload)} -> ${stableStringify(observed.get(c.id))}`);
    const expected = worlds.slice(0, 3).flatMap((w) => commands.map((c) => `  model for ${c.id} alone: ${stableStringify(applyToModel(w, c).seen)}`));
    throw new Error(`no serial order of these commands explains what the clients saw:\n${lines.join('\n')}\n${expected.join('\n')}`);
  }
  return [...next.values()];
}

/** The business tables, for one run's entities, as a model world. */
async function readWorld(prefix: string): Promise<World> {
  const world = emptyWorld();
  // bigint columns (balance, amount) come back from this plain pool as text.
  const accounts = await db.pool.query<{ id: string; balance: string; version: number }>(`SELECT id, balance, version FROM accounts WHERE starts_with(id, $1)`, [prefix]);
  for (const a of accounts.rows) world.accounts[a.id] = { balance: Number(a.balance), version: a.version };
  const orders = await db.pool.query<{ id: string; account_id: string; amount: string; status: ModelOrder['status']; version: number }>(
    `SELECT id, account_id, amount, status, version FROM orders WHERE starts_with(id, $1)`,
    [prefix],
  );
  for (const o of orders.rows) world.orders[o.id] = { accountId: o.account_id, amount: Number(o.amount), status: o.status, version: o.version };
  const redPackets = await db.pool.query<{ id: string; order_id: string; account_id: string; amount: string; status: ModelRedPacket['status']; version: number }>(
    `SELECT id, order_id, account_id, amount, status, version FROM red_packets WHERE starts_with(id, $1)`,
    [prefix],
  );
  for (const r of redPackets.rows) {
    world.redPackets[r.id] = { orderId: r.order_id, accountId: r.account_id, amount: Number(r.amount), status: r.status, version: r.version };
  }
  const ledger = await db.pool.query<{ account_id: string; command_id: string; amount: string }>(
    `SELECT account_id, command_id, amount FROM ledger_entries WHERE starts_with(account_id, $1)`,
    [prefix],
  );
  for (const e of ledger.rows) (world.ledger[e.account_id] ??= []).push(`${e.command_id} ${Number(e.amount)}`);
  return world;
}

/** Invariants the database must hold whatever the model says. */
async function checkInvariants(prefix: string): Promise<void> {
  const drift = await db.pool.query(
    `SELECT a.id, a.balance, coalesce(sum(l.amount), 0) AS ledger FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
     WHERE starts_with(a.id, $1) GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(l.amount), 0)`,
    [prefix],
  );
  expect(drift.rows, 'every balance equals the sum of its ledger').toEqual([]);
  const doubled = await db.pool.query(
    `SELECT order_id, count(*) FROM red_packets WHERE starts_with(id, $1) AND status <> 'CANCELLED' GROUP BY order_id HAVING count(*) > 1`,
    [prefix],
  );
  expect(doubled.rows, 'at most one live red packet per order').toEqual([]);
  const open = await db.pool.query(`SELECT id, status FROM oncely.commands WHERE starts_with(id, $1) AND status NOT IN ('succeeded', 'rejected', 'conflict')`, [prefix]);
  expect(open.rows, 'every command ended, none dead').toEqual([]);
}

let runNumber = 0;
/** What the streams exercised, printed at the end so a run shows it was not vacuous. */
const tally = new Map<string, number>();
const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);

async function runStream(steps: Step[]): Promise<void> {
  const prefix = `p${SEED}-${runNumber++}-`;
  let worlds: World[] = [emptyWorld()];
  const history: Array<{ command: ModelCommand; status: CommandStatus }> = [];
  let counter = 0;
  const fresh = (s: Spec) => toCommand(prefix, `${prefix}c${counter++}`, s);

  const opening: Step[] = [
    ...[0, 1, 2].flatMap((a): Step[] => [
      { kind: 'one', spec: { type: 'account.open', a, v: undefined } },
      { kind: 'one', spec: { type: 'account.credit', a, amount: 300 + 200 * a, v: undefined } },
    ]),
    { kind: 'one', spec: { type: 'order.create', o: 0, a: 0, amount: 100, v: undefined } },
    { kind: 'one', spec: { type: 'order.create', o: 1, a: 1, amount: 250, v: undefined } },
  ];

  const expanded = [...opening, ...steps].flatMap((s): Array<Exclude<Step, { kind: 'walk' }>> =>
    s.kind === 'walk' ? s.specs.map((spec) => ({ kind: 'one', spec })) : [s],
  );
  for (const s of expanded) {
    if (s.kind === 'one' || s.kind === 'together') {
      const commands = (s.kind === 'one' ? [s.spec] : s.specs).map(fresh);
      const sends = commands.map((c) => submit(c));
      // The same id submitted twice at once: one submission stores it, the other gets the stored row.
      if (s.kind === 'together' && s.twice) sends.push(submit(commands[0]!));
      const submissions = await Promise.all(sends);
      const outcomes = submissions.map((x) => x.outcome).sort();
      expect(outcomes).toEqual(s.kind === 'together' && s.twice ? [...commands.map(() => 'accepted'), 'duplicate'].sort() : commands.map(() => 'accepted'));
      const statuses = await Promise.all(commands.map((c) => ended(c.id)));
      commands.forEach((command, i) => history.push({ command, status: statuses[i]! }));
      for (const st of statuses) count(st.status === 'succeeded' ? `${st.type} succeeded` : `${st.status} ${st.error?.code}`);
      // Versions only grow along the state machine, so an order cancelled at version 3 was PAID: a refund.
      for (const st of statuses) if (st.type === 'order.cancel' && (st.result as { version?: number } | null)?.version === 3) count('order.cancel refunded');
      if (s.kind === 'together') count(s.twice ? 'concurrent group with a same-id twin' : 'concurrent group');
      worlds = advance(worlds, commands, new Map(statuses.map((st) => [st.id, seenOf(st)])));
    } else if (history.length > 0) {
      const earlier = history[s.back % history.length]!;
      if (s.kind === 'resubmit') {
        const again = await submit(earlier.command);
        expect(again.outcome).toBe('duplicate');
        expect(again.status).toEqual(earlier.status);
        count('re-submitted id');
      } else {
        const changed: ModelCommand =
          'amount' in earlier.command.payload
            ? { ...earlier.command, payload: { ...earlier.command.payload, amount: (earlier.command.payload['amount'] as number) + 1 } }
            : { ...earlier.command, entityId: `${earlier.command.entityId}x` };
        const reused = await submit(changed);
        expect(reused.outcome).toBe('reused');
        expect(reused.status).toEqual(earlier.status);
        count('reused id, different request');
      }
    }
  }

  await checkInvariants(prefix);
  const actual = worldKey(await readWorld(prefix));
  const keys = worlds.map(worldKey);
  if (!keys.includes(actual)) {
    throw new Error(`the database ended in a state the model cannot reach:\n  database: ${actual}\n  model:    ${keys.slice(0, 3).join('\n            ')}`);
  }
}

describe.each(SETUPS)('the processor against the model, $name', ({ env }) => {
  beforeAll(async () => {
    db = await createTestDatabase();
    system = await startTestSystem(db.url, { env });
    workers = [await startTestSystem(db.url, { env, roles: { api: false, worker: true } })];
  });
  afterAll(async () => {
    for (const worker of workers) await worker.stop();
    await system?.stop();
    await db?.drop();
  });

  it('agrees on every outcome and on the final balances, statuses, versions and ledgers', async () => {
    tally.clear();
    console.log(`property test: seed=${SEED} runs=${RUNS} (replay: ONCELY_PROP_SEED=${SEED} npx vitest run test/prop/model.test.ts)`);
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 40 }), runStream), {
      seed: SEED,
      numRuns: RUNS,
      ...(PATH ? { path: PATH } : {}),
      // Shrinking replays whole streams against the database; bound it so a failure reports in minutes at most.
      // An interrupted run is a failure: a stream still running (or failing) at the limit must never read as a pass.
      interruptAfterTimeLimit: TIME_LIMIT_MS,
      markInterruptAsFailure: true,
    });
    console.log(
      [...tally.entries()]
        .sort()
        .map(([key, n]) => `  ${key}: ${n}`)
        .join('\n'),
    );
    expect(tally.get('concurrent group') ?? 0).toBeGreaterThan(0);
  }, 180_000);
});
