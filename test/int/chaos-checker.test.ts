// The chaos checker fails the figures it should: a clean history passes everything, and each planted defect
// (an effect without its command, a lost acknowledged command, a dead non-poison command, two live red
// packets, a replay that changed its answer) fails exactly the figure that names it. The failover figures:
// a loss in synchronous mode fails, a loss in asynchronous mode is reported and judged by what the client was
// told after the promotion.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerFigures, checkRun, recoveryFigure, relayFigures, type FailoverCheckInput, type FinalState } from '../../chaos/checker.ts';
import { createHistory, type Envelope, type History } from '../../chaos/history.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oncely-chaos-checker-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Row = {
  id: string;
  type: string;
  entity_id: string;
  payload: Record<string, unknown>;
  status: string;
  result: unknown;
  error: { code: string } | null;
  attempts: number;
};

function world() {
  const history: History = createHistory(path.join(dir, `${Math.random()}.jsonl`));
  const rows: Row[] = [];
  const ok = (envelope: Envelope, status: string, result: unknown, poison = false) => {
    history.register(envelope, poison);
    history.record({ id: envelope.id, kind: 'submit', invokedAt: 1, completedAt: 2, outcome: 'ok', http: 200, replayed: false, seen: { status, result, error: null } });
    rows.push({ id: envelope.id, type: envelope.type, entity_id: envelope.entityId, payload: envelope.payload, status, result, error: null, attempts: 1 });
  };
  ok({ id: 'open-a', type: 'account.open', entityId: 'a', payload: {} }, 'succeeded', { balance: 0, version: 1 });
  ok({ id: 'credit-a', type: 'account.credit', entityId: 'a', payload: { amount: 100 } }, 'succeeded', { balance: 100, version: 2 });
  ok({ id: 'o1-create', type: 'order.create', entityId: 'o1', payload: { accountId: 'a', amount: 40 } }, 'succeeded', { status: 'CREATED', version: 1 });
  ok({ id: 'o1-pay', type: 'order.pay', entityId: 'o1', payload: {} }, 'succeeded', { status: 'PAID', version: 2 });
  ok({ id: 'rp1-issue', type: 'redPacket.issue', entityId: 'rp1', payload: { orderId: 'o1', accountId: 'a', amount: 5 } }, 'succeeded', {
    status: 'CREATED',
    version: 1,
  });
  ok({ id: 'poison-0', type: 'chaos.poison', entityId: 'p0', payload: {} }, 'dead', null, true);
  const state: FinalState = {
    commands: new Map(rows.map((row) => [row.id, row])),
    ledger: [
      { seq: 1, account_id: 'a', command_id: 'credit-a', amount: 100, balance_after: 100 },
      { seq: 2, account_id: 'a', command_id: 'o1-pay', amount: -40, balance_after: 60 },
    ],
    accounts: new Map([['a', { id: 'a', version: 3, balance: 60 }]]),
    orders: new Map([['o1', { id: 'o1', status: 'PAID', version: 2, account_id: 'a', amount: 40 }]]),
    redPackets: new Map([['rp1', { id: 'rp1', status: 'CREATED', version: 1, account_id: 'a', order_id: 'o1', amount: 5 }]]),
    idleInTransaction: 0,
    nonTerminal: 0,
  };
  // One replay of the credit, answered like the first.
  history.record({
    id: 'credit-a',
    kind: 'resend',
    invokedAt: 3,
    completedAt: 4,
    outcome: 'ok',
    http: 200,
    replayed: true,
    seen: { status: 'succeeded', result: { balance: 100, version: 2 }, error: null },
  });
  return { history, state };
}

const failing = (input: ReturnType<typeof world>) =>
  checkRun({ history: input.history, state: input.state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0 })
    .filter((figure) => !figure.ok)
    .map((figure) => figure.name);

describe('chaos checker', () => {
  it('passes a consistent history', () => {
    expect(failing(world())).toEqual([]);
  });

  it('catches an effect whose command never succeeded (a refund applied outside its transaction)', () => {
    const w = world();
    w.state.orders.set('o1', { id: 'o1', status: 'CANCELLED', version: 3, account_id: 'a', amount: 40 });
    const names = failing(w);
    expect(names).toContain('double effects (ledger rows or entity versions beyond the succeeded commands)');
    expect(names).toContain('illegal order histories');
  });

  it('catches a balance that moved without its ledger row', () => {
    const w = world();
    w.state.accounts.set('a', { id: 'a', version: 4, balance: 100 });
    expect(failing(w)).toEqual([
      'ledger conservation violations (balance = ledger sum = succeeded commands, version = 1 + entries)',
      'total money (balances = ledger = succeeded commands as the client sent them)',
    ]);
  });

  it('fails "acknowledged commands lost" when nothing was acknowledged: 0 of 0 proves nothing', () => {
    const history = createHistory(path.join(dir, `${Math.random()}.jsonl`));
    history.register({ id: 'never-answered', type: 'account.open', entityId: 'z', payload: {} });
    history.record({ id: 'never-answered', kind: 'submit', invokedAt: 1, completedAt: 2, outcome: 'unknown', error: 'ECONNREFUSED' });
    const state: FinalState = { commands: new Map(), ledger: [], accounts: new Map(), orders: new Map(), redPackets: new Map(), idleInTransaction: 0, nonTerminal: 0 };
    const figures = checkRun({ history, state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0 });
    const lost = figures.find((figure) => figure.name === 'acknowledged commands lost');
    expect(lost).toMatchObject({ ok: false, value: expect.stringMatching(/^0 of 0 \(no command was acknowledged/) });
  });

  it('computes expected money from what the client sent: a stored payload unlike the one sent fails, however consistent the database is', () => {
    const w = world();
    // The database says the credit was 70 (and moved 70, consistently); the client sent 100.
    const credit = w.state.commands.get('credit-a')!;
    w.state.commands.set('credit-a', { ...credit, payload: { amount: 70 } });
    w.state.ledger = [
      { seq: 1, account_id: 'a', command_id: 'credit-a', amount: 70, balance_after: 70 },
      { seq: 2, account_id: 'a', command_id: 'o1-pay', amount: -40, balance_after: 30 },
    ];
    w.state.accounts.set('a', { id: 'a', version: 3, balance: 30 });
    expect(failing(w)).toEqual([
      'succeeded commands whose money movement is missing or wrong',
      'ledger conservation violations (balance = ledger sum = succeeded commands, version = 1 + entries)',
      'total money (balances = ledger = succeeded commands as the client sent them)',
    ]);
  });

  it('fails on any negative balance, even one the ledger and the commands agree on', () => {
    const w = world();
    const debit = { id: 'debit-a', type: 'account.debit', entityId: 'a', payload: { amount: 200 } };
    w.history.register(debit);
    w.history.record({
      id: 'debit-a',
      kind: 'submit',
      invokedAt: 5,
      completedAt: 6,
      outcome: 'ok',
      http: 200,
      replayed: false,
      seen: { status: 'succeeded', result: { balance: -140, version: 4 }, error: null },
    });
    w.state.commands.set('debit-a', {
      id: 'debit-a',
      type: 'account.debit',
      entity_id: 'a',
      payload: debit.payload,
      status: 'succeeded',
      result: { balance: -140, version: 4 },
      error: null,
      attempts: 1,
    });
    w.state.ledger.push({ seq: 3, account_id: 'a', command_id: 'debit-a', amount: -200, balance_after: -140 });
    w.state.accounts.set('a', { id: 'a', version: 4, balance: -140 });
    expect(failing(w)).toEqual(['negative balances (accounts, or ledger rows on the way)']);
  });

  it('catches a lost acknowledged command and a dead command that was not poison', () => {
    const w = world();
    w.state.commands.delete('open-a');
    const credit = w.state.commands.get('credit-a');
    if (credit) w.state.commands.set('credit-a', { ...credit, status: 'dead', result: null });
    const names = failing(w);
    expect(names).toContain('acknowledged commands lost');
    expect(names).toContain('dead letters = poison commands');
    expect(names).toContain('effects of rejected, conflict or dead commands');
  });

  it('catches two live red packets for one order', () => {
    const w = world();
    w.history.register({ id: 'rp2-issue', type: 'redPacket.issue', entityId: 'rp2', payload: { orderId: 'o1', accountId: 'a', amount: 6 } });
    w.state.commands.set('rp2-issue', {
      id: 'rp2-issue',
      type: 'redPacket.issue',
      entity_id: 'rp2',
      payload: { orderId: 'o1', accountId: 'a', amount: 6 },
      status: 'succeeded',
      result: { status: 'CREATED', version: 1 },
      error: null,
      attempts: 1,
    });
    w.state.redPackets.set('rp2', { id: 'rp2', status: 'CREATED', version: 1, account_id: 'a', order_id: 'o1', amount: 6 });
    expect(failing(w)).toEqual(['orders with a wrong set of live red packets (must be exactly the one a valid issue left live)']);
  });

  it('catches a replay that answered differently from the first answer', () => {
    const w = world();
    w.history.record({
      id: 'credit-a',
      kind: 'resend',
      invokedAt: 5,
      completedAt: 6,
      outcome: 'ok',
      http: 200,
      replayed: true,
      seen: { status: 'rejected', result: null, error: { code: 'x' } },
    });
    expect(failing(w)).toEqual(['replays answering the same status and result as the first answer', 'terminal answers that differ from the stored outcome']);
  });

  describe('every command (poison aside) terminal within 10 s of the last fault', () => {
    // The world's commands were sent at t=1 ms; the last fault ends at t=1000 ms.
    const timed = (ends: Record<string, number>) => {
      const w = world();
      for (const [id, row] of w.state.commands) w.state.commands.set(id, { ...row, completed_ms: ends[id] ?? 1500 });
      return w;
    };
    const recovery = { lastFaultAt: 1000, limitSeconds: 10, startedAt: 0 };
    const verdict = (w: ReturnType<typeof world>) => {
      const figures = checkRun({ history: w.history, state: w.state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0, recovery });
      return figures.find((figure) => figure.name.startsWith('every command (poison aside)'));
    };

    it('passes when the last command ends within 10 s of the last fault, and prints the seconds', () => {
      const w = timed({ 'credit-a': 10_500 });
      expect(verdict(w)?.ok).toBe(true);
      expect(verdict(w)?.value).toMatch(/^9\.5s /);
      expect(recoveryFigure(w.history, w.state, recovery).seconds).toBeCloseTo(9.5);
    });

    it('fails when a command ends 12 s after the last fault, naming it', () => {
      const w = timed({ 'o1-pay': 13_000 });
      expect(verdict(w)?.ok).toBe(false);
      expect(verdict(w)?.value).toContain('o1-pay:succeeded');
      expect(failing({ ...w })).toEqual([]); // without the recovery input the figure is not computed
    });

    it('fails when a non-poison command is not terminal', () => {
      const w = timed({});
      const row = w.state.commands.get('credit-a');
      if (row) w.state.commands.set('credit-a', { ...row, status: 'retrying', completed_ms: null });
      expect(verdict(w)?.ok).toBe(false);
    });

    it('leaves poison commands out (they back off up to a minute), while the dead-letter figure still wants them dead', () => {
      const w = timed({ 'poison-0': 60_000 });
      expect(verdict(w)?.ok).toBe(true);
    });

    it('measures from the last submission when it came after the last fault, and each command from its own first send', () => {
      const w = timed({ late: 25_000 });
      w.history.register({ id: 'late', type: 'account.credit', entityId: 'a', payload: { amount: 1 } });
      w.history.record({
        id: 'late',
        kind: 'submit',
        invokedAt: 20_000,
        completedAt: 20_100,
        outcome: 'ok',
        http: 202,
        replayed: false,
        seen: { status: 'queued', result: null, error: null },
      });
      w.state.commands.set('late', {
        id: 'late',
        type: 'account.credit',
        entity_id: 'a',
        payload: { amount: 1 },
        status: 'rejected',
        result: null,
        error: { code: 'x' },
        attempts: 1,
        completed_ms: 25_000,
      });
      expect(verdict(w)?.ok).toBe(true);
      expect(recoveryFigure(w.history, w.state, recovery).seconds).toBeCloseTo(5);
      // A command stuck since before the fault cannot hide behind that later submission.
      const stuck = w.state.commands.get('o1-pay');
      if (stuck) w.state.commands.set('o1-pay', { ...stuck, completed_ms: 24_000 });
      expect(verdict(w)?.ok).toBe(false);
      expect(recoveryFigure(w.history, w.state, recovery).worstId).toBe('o1-pay');
    });
  });

  describe('broker-fed commands', () => {
    const clientIds = { redis: 'redis:s', rabbitmq: 'rabbitmq:q' };
    /** The clean world plus a credit published to Redis (twice) and stored under the Redis inbox's client id. */
    const fed = () => {
      const input = world();
      const envelope = { id: 'mq-credit', type: 'account.credit', entityId: 'a', payload: { amount: 7 } };
      input.history.register(envelope, false, 'redis');
      for (const at of [5, 6]) input.history.record({ id: envelope.id, kind: 'publish', invokedAt: at, completedAt: at + 1, outcome: 'ok' });
      input.state.commands.set(envelope.id, {
        id: envelope.id,
        client_id: 'redis:s',
        type: envelope.type,
        entity_id: 'a',
        payload: envelope.payload,
        status: 'succeeded',
        result: { balance: 67, version: 4 },
        error: null,
        attempts: 1,
        completed_ms: 10,
      });
      input.state.ledger.push({ seq: 3, account_id: 'a', command_id: envelope.id, amount: 7, balance_after: 67 });
      input.state.accounts.set('a', { id: 'a', version: 4, balance: 67 });
      const garbage = [{ broker: 'redis' as const, key: 'garbage-redis-0', kind: 'not-json' as const, published: true }];
      const deadLetters = [{ broker: 'redis' as const, key: 'garbage-redis-0', reason: 'invalid_request' }];
      return { ...input, brokers: { clientIds, garbage, deadLetters, pending: { redis: 0 }, lastFaultAt: 8 } };
    };
    const failingWith = (input: ReturnType<typeof fed>) =>
      checkRun({ history: input.history, state: input.state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0, brokers: input.brokers })
        .filter((figure) => !figure.ok)
        .map((figure) => figure.name);

    it('passes a broker-fed command stored once under its inbox client id, and garbage in the dead-letter path', () => {
      expect(failingWith(fed())).toEqual([]);
    });

    it('catches a confirmed publish with no command, garbage missing from the dead-letter path, and a message left unacknowledged', () => {
      const input = fed();
      input.state.commands.delete('mq-credit');
      input.state.ledger.pop();
      input.state.accounts.set('a', { id: 'a', version: 3, balance: 60 });
      input.brokers.deadLetters = [];
      input.brokers.pending = { redis: 1 };
      expect(failingWith(input)).toEqual([
        'broker-fed commands lost (publish confirmed, no command under the inbox client id)',
        'garbage messages not in the dead-letter path',
        'messages left unacknowledged in the brokers at the end',
      ]);
    });

    it('catches a command stored under another client id and a valid message dead-lettered', () => {
      const input = fed();
      const row = input.state.commands.get('mq-credit');
      if (row) row.client_id = 'anonymous';
      input.brokers.deadLetters.push({ broker: 'redis', key: 'mq-credit', reason: 'too_many_deliveries' });
      const names = brokerFigures(input.history, input.state, 60, input.brokers)
        .filter((figure) => !figure.ok)
        .map((figure) => figure.name);
      expect(names).toEqual([
        'commands stored under another client id, or under more than one (each must be one command of its own source)',
        'valid broker messages dead-lettered',
      ]);
    });
  });

  describe('failover figures', () => {
    // The world's answers all come after a promotion at t=0; credit-a was first answered before it, at t=-9.
    const promoted = (lost: string[], mode: FailoverCheckInput['mode'] = 'asynchronous', endedMs = 5000) => {
      const input = world();
      input.history.record({
        id: 'credit-a',
        kind: 'submit',
        invokedAt: -10,
        completedAt: -9,
        outcome: 'ok',
        http: 202,
        replayed: false,
        // The old primary's answer, from a history the promoted standby never had.
        seen: { status: 'succeeded', result: { balance: 999, version: 7 }, error: null },
      });
      const row = input.state.commands.get('credit-a');
      if (row) row.completed_ms = endedMs;
      const failover: FailoverCheckInput = { mode, killedAt: -1, promotedAt: 0, acknowledged: 1, lost, limitSeconds: 30 };
      return { input, failover };
    };
    const failingWith = ({ input, failover }: ReturnType<typeof promoted>) =>
      checkRun({ history: input.history, state: input.state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0, failover })
        .filter((figure) => !figure.ok)
        .map((figure) => figure.name);

    it('asynchronous: a lost command sent again under its id counts once, by the answers given after the promotion; the loss is reported', () => {
      const run = promoted(['credit-a']);
      expect(failingWith(run)).toEqual([]);
      const figures = checkRun({ history: run.input.history, state: run.input.state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0, failover: run.failover });
      expect(figures.find((f) => f.name === 'failover (asynchronous): acknowledged commands the promotion lost (reported)')?.value).toMatch(/^1 of 1 /);
      expect(figures.find((f) => f.name.startsWith('failover (asynchronous): lost commands stored and terminal'))?.value).toBe('1 of 1');
      // Without knowing of the loss, the same history is two acceptances and an answer unlike the stored outcome.
      expect(failingWith({ ...run, failover: { ...run.failover, lost: [] } })).toEqual([
        'terminal answers that differ from the stored outcome',
        'ids accepted more than once (2xx without Idempotent-Replayed)',
      ]);
    });

    it('synchronous: any acknowledged command missing after the promotion fails', () => {
      expect(failingWith(promoted([], 'synchronous'))).toEqual([
        'terminal answers that differ from the stored outcome',
        'ids accepted more than once (2xx without Idempotent-Replayed)',
      ]);
      expect(failingWith(promoted(['credit-a'], 'synchronous'))).toEqual(['failover (synchronous): acknowledged commands the promotion lost']);
    });

    it('fails a lost command its client never got stored again, and a command sent before the promotion that ended 31 s after it', () => {
      const never = promoted(['credit-a']);
      never.input.state.commands.delete('credit-a');
      expect(failingWith(never)).toContain(
        'failover (asynchronous): lost commands stored and terminal after the promotion (sent again under their id, or applied again)',
      );
      expect(failingWith(promoted(['credit-a'], 'asynchronous', 31_000))).toEqual([
        'failover (asynchronous): commands sent before the promotion terminal within 30s of it',
      ]);
    });
  });

  describe('relay figures', () => {
    const stored = [
      { id: 'e1', entity_id: 'a', sequence: 1, status: 'succeeded' },
      { id: 'e2', entity_id: 'b', sequence: 2, status: 'succeeded' },
      { id: 'e3', entity_id: 'a', sequence: 3, status: 'succeeded' },
    ];
    const failingNames = (published: { id: string; entityId: string }[], rows = stored) =>
      relayFigures(rows, published)
        .filter((figure) => !figure.ok)
        .map((figure) => figure.name);

    it('passes every event published, duplicates of an id included, each entity in stored order', () => {
      expect(
        failingNames([
          { id: 'e1', entityId: 'a' },
          { id: 'e2', entityId: 'b' },
          { id: 'e1', entityId: 'a' },
          { id: 'e3', entityId: 'a' },
        ]),
      ).toEqual([]);
    });

    it('catches a missing event, an event of a failed command and one entity out of order', () => {
      expect(
        failingNames(
          [
            { id: 'e3', entityId: 'a' },
            { id: 'e1', entityId: 'a' },
          ],
          [...stored, { id: 'e4', entity_id: 'c', sequence: 4, status: 'rejected' }],
        ),
      ).toEqual([
        'outbox events not published (by id), or published and not stored',
        'outbox events of commands that did not succeed',
        'entities whose events were first published out of their stored order',
      ]);
    });
  });
});
