// The checker: compares the client's history with the final state of the database and turns the guarantees
// of CONTRACT section 1 into figures, each of which holds or does not.
import type pg from 'pg';
import type { DeadLetterSeen, Garbage } from './brokers.ts';
import { isTerminalStatus } from './client.ts';
import type { CommandRecord, History, Op } from './history.ts';

export interface Figure {
  name: string;
  value: string;
  ok: boolean;
}

interface CommandRow {
  id: string;
  /** The HTTP client (`anonymous`) or the inbox source's client id the command is stored under. */
  client_id?: string;
  type: string;
  entity_id: string;
  payload: Record<string, unknown>;
  status: string;
  result: unknown;
  error: { code: string } | null;
  attempts: number;
  /** commands.completed_at in ms since epoch (null while not terminal). */
  completed_ms?: number | null;
}

interface LedgerRow {
  seq: number;
  account_id: string;
  command_id: string;
  amount: number;
  balance_after: number;
}

interface EntityRow {
  id: string;
  status?: string;
  version: number;
  balance?: number;
  account_id?: string;
  order_id?: string;
  amount?: number;
}

export interface FinalState {
  commands: Map<string, CommandRow>;
  ledger: LedgerRow[];
  accounts: Map<string, EntityRow>;
  orders: Map<string, EntityRow>;
  redPackets: Map<string, EntityRow>;
  idleInTransaction: number;
  nonTerminal: number;
  /** Ids stored under more than one of the run's client ids (the workload never uses an id twice). */
  sharedIds?: string[];
  /** Commands that ended after more than one attempt (not counting poison), and the most attempts any took. */
  redelivered?: { commands: number; maxAttempts: number };
}

/**
 * Reads everything the checker needs, straight from the run's database: the commands of the HTTP client and
 * of each inbox source's client id.
 */
export async function readFinalState(client: pg.Client, clientIds: readonly string[] = ['anonymous']): Promise<FinalState> {
  const commands = await client.query<CommandRow>(
    `SELECT id, client_id, type, entity_id, payload, status, result, error, attempts, (extract(epoch FROM completed_at) * 1000)::float8 AS completed_ms
       FROM oncely.commands WHERE client_id = ANY($1)`,
    [clientIds],
  );
  const seenIds = new Set<string>();
  const sharedIds = commands.rows.filter((row) => seenIds.has(row.id) || !seenIds.add(row.id)).map((row) => row.id);
  const ledger = await client.query<LedgerRow>(
    `SELECT seq::float8 AS seq, account_id, command_id, amount::float8 AS amount, balance_after::float8 AS balance_after FROM ledger_entries ORDER BY seq`,
  );
  const accounts = await client.query<EntityRow>(`SELECT id, version, balance::float8 AS balance FROM accounts`);
  const orders = await client.query<EntityRow>(`SELECT id, status, version, account_id, amount::float8 AS amount FROM orders`);
  const redPackets = await client.query<EntityRow>(`SELECT id, status, version, account_id, order_id, amount::float8 AS amount FROM red_packets`);
  const idle = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
  );
  const byId = <R extends { id: string }>(rows: R[]) => new Map(rows.map((row) => [row.id, row]));
  return {
    commands: byId(commands.rows),
    ledger: ledger.rows,
    accounts: byId(accounts.rows),
    orders: byId(orders.rows),
    redPackets: byId(redPackets.rows),
    idleInTransaction: idle.rows[0]?.n ?? -1,
    nonTerminal: commands.rows.filter((row) => !isTerminalStatus(row.status)).length,
    sharedIds,
    redelivered: {
      commands: commands.rows.filter((row) => row.attempts > 1 && row.status !== 'dead').length,
      maxAttempts: commands.rows.filter((row) => row.status !== 'dead').reduce((max, row) => Math.max(max, row.attempts), 0),
    },
  };
}

const ORDER_MOVES: Record<string, { from: readonly string[]; to: string }> = {
  'order.pay': { from: ['CREATED'], to: 'PAID' },
  'order.ship': { from: ['PAID'], to: 'DELIVERED' },
  'order.complete': { from: ['DELIVERED'], to: 'COMPLETED' },
  'order.cancel': { from: ['CREATED', 'PAID'], to: 'CANCELLED' },
};
const PACKET_MOVES: Record<string, { from: readonly string[]; to: string }> = {
  'redPacket.pay': { from: ['CREATED'], to: 'PAID' },
  'redPacket.cancel': { from: ['CREATED'], to: 'CANCELLED' },
};

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

export interface CheckInput {
  history: Pick<History, 'commands'>;
  state: FinalState;
  settleSeconds: number;
  unplannedExits: number;
  uncleanStops: number;
  /** Extra figures (fault counts against their required minimums). */
  extra?: Figure[];
  /** The "terminal within N s of the last fault" figure; left out when undefined. */
  recovery?: RecoveryInput;
  /** The broker-fed part of the workload, when the run had one. */
  brokers?: BrokerCheckInput;
  /** The failover, when the run had one. */
  failover?: FailoverCheckInput;
}

export interface FailoverCheckInput {
  mode: 'synchronous' | 'asynchronous';
  killedAt: number;
  /** When the promoted standby took writes through the run's proxies (ms since epoch). */
  promotedAt: number;
  /** Commands acknowledged before the promotion. */
  acknowledged: number;
  /** Of those, the ids the promoted standby did not have, or had without the outcome their client was told. */
  lost: readonly string[];
  /** Every command sent before the promotion must be terminal within this many seconds of it. */
  limitSeconds: number;
}

export interface BrokerCheckInput {
  /** The client id each broker's inbox stores its commands under. */
  clientIds: Readonly<Record<string, string>>;
  garbage: readonly Garbage[];
  deadLetters: readonly DeadLetterSeen[];
  /** Messages each broker still holds unacknowledged at the end. */
  pending: Readonly<Record<string, number>>;
  lastFaultAt: number | undefined;
}

export interface RecoveryInput {
  /** When the last fault ended (ms since epoch; see NemesisStats.lastFaultAt), undefined if none ran. */
  lastFaultAt: number | undefined;
  limitSeconds: number;
  /** For the printed times: the start of the run (ms since epoch). */
  startedAt: number;
}

export interface Recovery {
  figure: Figure;
  /** lastFaultAt or the last submission, whichever is later (ms since epoch). */
  from: number;
  lastSubmissionAt: number;
  lastTerminalAt: number | undefined;
  /** The figure: from `from` to the last non-poison command terminal. */
  seconds: number | undefined;
  /** Of the commands first sent before the last fault ended: from its end to the last of them terminal. */
  inFlightSeconds: number | undefined;
  /** The worst command: from the later of the last fault's end and its own first send, to its end. */
  worstSeconds: number | undefined;
  worstId: string | undefined;
  /** Non-poison commands terminal later than the limit (by either measure), or not terminal at all, latest first. */
  late: CommandRow[];
}

/** Kinds of send that may store a new command (not reads, re-sends after its end, or different requests). */
const SUBMITTING = new Set(['submit', 'retry', 'concurrent']);

/**
 * "Every command terminal within N s of the last fault": from the end of the last fault, or the workload's
 * last submission if that came later, to the moment the last non-poison command became terminal
 * (commands.completed_at). Poison commands are left out (their handler fails on purpose and backs off up to
 * RETRY_DELAY_MAX_SECONDS; they are not contention), but the dead-letter figure still requires them dead.
 *
 * @example
 * const { figure } = recoveryFigure(history, state, { lastFaultAt, limitSeconds: 10, startedAt });
 */
export function recoveryFigure(history: Pick<History, 'commands'>, state: FinalState, input: RecoveryInput): Recovery {
  // Broker-fed commands have a figure of their own (brokerFigures): a message in the hands of a SIGKILLed
  // inbox comes back only after the broker's redelivery time (JetStream's ack_wait).
  const poison = new Set([...history.commands.values()].filter((record) => record.poison || record.via).map((record) => record.envelope.id));
  let lastSubmissionAt = 0;
  const firstSent = new Map<string, number>();
  for (const record of history.commands.values()) {
    if (record.poison || record.via) continue;
    for (const op of record.ops) {
      if (!SUBMITTING.has(op.kind)) continue;
      lastSubmissionAt = Math.max(lastSubmissionAt, op.invokedAt);
      firstSent.set(record.envelope.id, Math.min(firstSent.get(record.envelope.id) ?? Infinity, op.invokedAt));
    }
  }
  const lastFault = input.lastFaultAt ?? 0;
  const from = Math.max(lastFault, lastSubmissionAt);
  const rows = [...state.commands.values()].filter((row) => !poison.has(row.id));
  const open = rows.filter((row) => !isTerminalStatus(row.status) || row.completed_ms === null || row.completed_ms === undefined);
  const times = rows.map((row) => row.completed_ms).filter((ms): ms is number => typeof ms === 'number');
  const lastTerminalAt = times.length > 0 ? Math.max(...times) : undefined;
  const seconds = lastTerminalAt === undefined ? undefined : (lastTerminalAt - from) / 1000;
  // The same bound command by command, so that a calm tail of fresh submissions after the last fault cannot
  // hide a command stuck since it: each must end within the limit of the last fault's end or, if it was
  // first sent after that, of its own first send.
  const ownFrom = (row: CommandRow) => Math.max(lastFault, firstSent.get(row.id) ?? lastFault);
  let worstSeconds: number | undefined;
  let worstId: string | undefined;
  let inFlightSeconds: number | undefined;
  for (const row of rows) {
    if (typeof row.completed_ms !== 'number') continue;
    const own = (row.completed_ms - ownFrom(row)) / 1000;
    if (worstSeconds === undefined || own > worstSeconds) [worstSeconds, worstId] = [own, row.id];
    if ((firstSent.get(row.id) ?? 0) < lastFault) inFlightSeconds = Math.max(inFlightSeconds ?? -Infinity, (row.completed_ms - lastFault) / 1000);
  }
  const limitMs = input.limitSeconds * 1000;
  const late = [
    ...open,
    ...rows
      .filter((row) => typeof row.completed_ms === 'number' && (row.completed_ms - from > limitMs || row.completed_ms - ownFrom(row) > limitMs))
      .sort((a, b) => (b.completed_ms ?? 0) - (a.completed_ms ?? 0)),
  ];
  const t = (ms: number | undefined) => (ms === undefined || ms === 0 ? '-' : `t=${((ms - input.startedAt) / 1000).toFixed(1)}s`);
  const secs = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)}s`);
  const ok = open.length === 0 && (seconds === undefined || seconds <= input.limitSeconds) && (worstSeconds === undefined || worstSeconds <= input.limitSeconds);
  const value =
    `${secs(seconds)} (last fault ended ${t(input.lastFaultAt)}, last submission ${t(lastSubmissionAt)}, last non-poison command terminal ${t(lastTerminalAt)}); ` +
    `commands sent before the last fault ended all terminal ${secs(inFlightSeconds)} after it; ` +
    `worst command ${secs(worstSeconds)} after the later of the last fault and its first send${worstId ? ` (${worstId})` : ''}; ` +
    `${late.length} later than ${input.limitSeconds}s${open.length > 0 ? `, ${open.length} not terminal` : ''}` +
    sample(late.map((row) => `${row.id}:${row.status}:${row.attempts} attempts`));
  return {
    figure: { name: `every command (poison aside) terminal within ${input.limitSeconds}s of the last fault`, value, ok },
    from,
    lastSubmissionAt,
    lastTerminalAt,
    seconds,
    inFlightSeconds,
    worstSeconds,
    worstId,
    late,
  };
}

/**
 * Computes every figure. A figure holds when its `ok` is true; the run passes when all hold.
 *
 * @example
 * const figures = checkRun({ history, state, settleSeconds: 60, unplannedExits: 0, uncleanStops: 0 });
 */
export function checkRun(input: CheckInput): Figure[] {
  const { state } = input;
  const history = input.failover ? afterPromotion(input.history, input.failover) : input.history;
  const figures: Figure[] = [];
  const figure = (name: string, value: string | number, ok: boolean) => figures.push({ name, value: String(value), ok });
  const records = [...history.commands.values()];
  const succeeded = (id: string) => state.commands.get(id)?.status === 'succeeded';
  const rowsOf = <T>(map: Map<string, T[]>, key: string) => {
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    return list;
  };

  // --- Acknowledged commands: stored, and every terminal answer the client saw is what is stored.
  const acknowledged = records.filter((record) => !record.via && record.ops.some((op) => op.outcome === 'ok' && op.kind !== 'read' && op.kind !== 'different'));
  const lost = acknowledged.filter((record) => !state.commands.has(record.envelope.id));
  // 0 of 0 proves nothing: a run that acknowledged no command (the client never got an answer) fails here.
  figure(
    'acknowledged commands lost',
    `${lost.length} of ${acknowledged.length}${acknowledged.length === 0 ? ' (no command was acknowledged: nothing was checked)' : ''}${sample(lost.map((r) => r.envelope.id))}`,
    lost.length === 0 && acknowledged.length > 0,
  );
  figure(`commands not terminal ${input.settleSeconds}s after the last fault (poison included)`, state.nonTerminal, state.nonTerminal === 0);
  if (input.recovery) figures.push(recoveryFigure(history, state, input.recovery).figure);
  if (input.failover) figures.push(...failoverFigures(input.history, state, input.failover));
  if (input.brokers) figures.push(...brokerFigures(history, state, input.settleSeconds, input.brokers));

  const submitted = new Set(records.map((record) => record.envelope.id));
  const strangers = [...state.commands.keys()].filter((id) => !submitted.has(id));
  const refusedButStored = records.filter(
    (record) => record.ops.length > 0 && record.ops.every((op) => op.outcome === 'failed' && op.kind !== 'read') && state.commands.has(record.envelope.id),
  );
  figure(
    'commands stored that were refused at submission (4xx) or never sent',
    `${refusedButStored.length + strangers.length}${sample([...strangers, ...refusedButStored.map((r) => r.envelope.id)])}`,
    refusedButStored.length + strangers.length === 0,
  );

  // --- Expected money movements, from the client's own record: the envelopes it sent (never the payloads the
  // database stored), for the commands that succeeded by the first terminal answer the client was given (the database's word
  // only for a command whose end the client never saw). A stored payload that differs from the one sent is a
  // wrong movement, not a new expectation.
  const endSeen = (record: CommandRecord) => record.ops.find((op) => op.outcome === 'ok' && op.kind !== 'different' && isTerminalStatus(op.seen?.status))?.seen?.status;
  const sentSucceeded = records.filter((record) => (endSeen(record) ?? state.commands.get(record.envelope.id)?.status) === 'succeeded');
  const orderOf = new Map<string, { accountId: string; amount: number }>();
  const packetOf = new Map<string, { accountId: string; orderId: string; amount: number }>();
  const orderCommands = new Map<string, CommandRow[]>();
  const packetCommands = new Map<string, CommandRow[]>();
  for (const row of state.commands.values()) {
    if (row.status !== 'succeeded') continue;
    if (row.type.startsWith('order.')) rowsOf(orderCommands, row.entity_id).push(row);
    if (row.type.startsWith('redPacket.')) rowsOf(packetCommands, row.entity_id).push(row);
  }
  for (const { envelope } of sentSucceeded) {
    if (envelope.type === 'order.create') orderOf.set(envelope.entityId, envelope.payload as { accountId: string; amount: number });
    if (envelope.type === 'redPacket.issue') packetOf.set(envelope.entityId, envelope.payload as { accountId: string; orderId: string; amount: number });
  }
  const orderPaid = new Set(sentSucceeded.filter(({ envelope }) => envelope.type === 'order.pay').map(({ envelope }) => envelope.entityId));
  const expected = new Map<string, number>(); // `${command} ${account}` -> amount
  const put = (command: string, account: string | undefined, amount: number) => {
    if (account !== undefined) expected.set(`${command} ${account}`, (expected.get(`${command} ${account}`) ?? 0) + amount);
  };
  for (const { envelope } of sentSucceeded) {
    const amount = typeof envelope.payload['amount'] === 'number' ? envelope.payload['amount'] : 0;
    if (envelope.type === 'account.credit') put(envelope.id, envelope.entityId, amount);
    else if (envelope.type === 'account.debit') put(envelope.id, envelope.entityId, -amount);
    else if (envelope.type === 'account.transfer') {
      put(envelope.id, envelope.entityId, -amount);
      put(envelope.id, String(envelope.payload['to']), amount);
    } else if (envelope.type === 'order.pay') {
      const order = orderOf.get(envelope.entityId);
      put(envelope.id, order?.accountId, -(order?.amount ?? 0));
    } else if (envelope.type === 'order.cancel' && orderPaid.has(envelope.entityId)) {
      const order = orderOf.get(envelope.entityId);
      put(envelope.id, order?.accountId, order?.amount ?? 0);
    } else if (envelope.type === 'redPacket.pay') {
      const packet = packetOf.get(envelope.entityId);
      put(envelope.id, packet?.accountId, packet?.amount ?? 0);
    }
  }
  const actual = new Map<string, { amount: number; rows: number }>();
  for (const entry of state.ledger) {
    const key = `${entry.command_id} ${entry.account_id}`;
    const seen = actual.get(key) ?? { amount: 0, rows: 0 };
    actual.set(key, { amount: seen.amount + entry.amount, rows: seen.rows + 1 });
  }
  const doubles = [...actual.entries()].filter(([, value]) => value.rows > 1).map(([key]) => key);
  // Versions count changes: an entity changed twice by one command has a version beyond its succeeded commands.
  const accountChanges = new Map<string, number>();
  for (const entry of state.ledger) accountChanges.set(entry.account_id, (accountChanges.get(entry.account_id) ?? 0) + 1);
  const overVersioned: string[] = [];
  for (const [id, order] of state.orders) {
    if (order.version !== (orderCommands.get(id)?.length ?? 0)) overVersioned.push(id);
  }
  for (const [id, packet] of state.redPackets) {
    if (packet.version !== (packetCommands.get(id)?.length ?? 0)) overVersioned.push(id);
  }
  figure(
    'double effects (ledger rows or entity versions beyond the succeeded commands)',
    `${doubles.length + overVersioned.length}${sample([...doubles, ...overVersioned])}`,
    doubles.length + overVersioned.length === 0,
  );

  const effectOfFailed = state.ledger.filter((entry) => !succeeded(entry.command_id));
  const neverSubmittedEffects = state.ledger.filter((entry) => !submitted.has(entry.command_id));
  const creators = new Set(records.map((record) => record.envelope.entityId));
  const phantomEntities = [...state.accounts.keys(), ...state.orders.keys(), ...state.redPackets.keys()].filter((id) => !creators.has(id));
  figure(
    'effects of ids never submitted',
    `${neverSubmittedEffects.length + phantomEntities.length}${sample([...neverSubmittedEffects.map((e) => e.command_id), ...phantomEntities])}`,
    neverSubmittedEffects.length + phantomEntities.length === 0,
  );
  figure('effects of rejected, conflict or dead commands', `${effectOfFailed.length}${sample(effectOfFailed.map((e) => e.command_id))}`, effectOfFailed.length === 0);
  const missing = [...expected.entries()].filter(([key, amount]) => actual.get(key)?.amount !== amount && amount !== 0).map(([key]) => key);
  const unexpected = [...actual.keys()].filter((key) => !expected.has(key) && succeeded(key.split(' ')[0] ?? ''));
  figure(
    'succeeded commands whose money movement is missing or wrong',
    `${missing.length + unexpected.length}${sample([...missing, ...unexpected])}`,
    missing.length + unexpected.length === 0,
  );

  // --- Ledger conservation per account and in total.
  const byAccount = new Map<string, LedgerRow[]>();
  for (const entry of state.ledger) rowsOf(byAccount, entry.account_id).push(entry);
  const expectedBalance = new Map<string, number>();
  for (const [key, amount] of expected) {
    const account = key.slice(key.indexOf(' ') + 1);
    expectedBalance.set(account, (expectedBalance.get(account) ?? 0) + amount);
  }
  const violations: string[] = [];
  for (const [id, account] of state.accounts) {
    const entries = byAccount.get(id) ?? [];
    let running = 0;
    let chained = true;
    for (const entry of entries) {
      running += entry.amount;
      if (entry.balance_after !== running) chained = false;
    }
    if (!chained || account.balance !== running || account.balance !== (expectedBalance.get(id) ?? 0) || account.version !== 1 + entries.length) {
      violations.push(id);
    }
  }
  figure(
    'ledger conservation violations (balance = ledger sum = succeeded commands, version = 1 + entries)',
    `${violations.length} of ${state.accounts.size} accounts${sample(violations)}`,
    violations.length === 0,
  );
  // No account may ever go below zero: not at the end, and not on any ledger row on the way.
  const negative = [
    ...[...state.accounts.values()].filter((account) => (account.balance ?? 0) < 0).map((account) => `${account.id}:${account.balance}`),
    ...state.ledger.filter((entry) => entry.balance_after < 0).map((entry) => `${entry.account_id}@${entry.command_id}:${entry.balance_after}`),
  ];
  figure('negative balances (accounts, or ledger rows on the way)', `${negative.length}${sample(negative)}`, negative.length === 0);
  const totalActual = [...state.accounts.values()].reduce((sum, account) => sum + (account.balance ?? 0), 0);
  const totalExpected = [...expected.values()].reduce((sum, amount) => sum + amount, 0);
  const totalLedger = state.ledger.reduce((sum, entry) => sum + entry.amount, 0);
  figure(
    'total money (balances = ledger = succeeded commands as the client sent them)',
    `${totalActual} = ${totalLedger} = ${totalExpected}`,
    totalActual === totalExpected && totalLedger === totalExpected,
  );

  // --- Order histories: the succeeded commands, in version order, walk the state machine to the stored row.
  const illegal: string[] = [];
  for (const [id, order] of state.orders) {
    const steps = (orderCommands.get(id) ?? []).map((row) => ({ row, version: (row.result as { version?: number } | null)?.version ?? -1 }));
    steps.sort((a, b) => a.version - b.version);
    let status: string | undefined;
    let ok = steps[0]?.row.type === 'order.create' && steps[0].version === 1;
    steps.forEach((step, i) => {
      if (step.version !== i + 1) ok = false;
      const reported = (step.row.result as { status?: string } | null)?.status;
      if (i === 0) status = 'CREATED';
      else {
        const move = ORDER_MOVES[step.row.type];
        if (!move || status === undefined || !move.from.includes(status)) ok = false;
        status = move?.to;
      }
      if (reported !== status) ok = false;
    });
    if (!ok || status !== order.status || steps.length !== order.version) illegal.push(id);
  }
  const ordersWithoutCreate = [...orderCommands.keys()].filter((id) => !state.orders.has(id));
  figure(
    'illegal order histories',
    `${illegal.length + ordersWithoutCreate.length} of ${state.orders.size} orders${sample([...illegal, ...ordersWithoutCreate])}`,
    illegal.length + ordersWithoutCreate.length === 0,
  );

  // --- Red packets: at most one live per order, and exactly the one a valid issue left live.
  const packetProblems: string[] = [];
  const liveByOrder = new Map<string, string[]>();
  for (const [id, packet] of state.redPackets) {
    const issued = packetOf.get(id);
    if (!issued || issued.orderId !== packet.order_id || issued.amount !== packet.amount || issued.accountId !== packet.account_id) packetProblems.push(id);
    const moves = (packetCommands.get(id) ?? []).filter((row) => row.type !== 'redPacket.issue');
    let status = 'CREATED';
    for (const row of moves.sort((a, b) => ((a.result as { version: number }).version ?? 0) - ((b.result as { version: number }).version ?? 0))) {
      const move = PACKET_MOVES[row.type];
      if (!move || !move.from.includes(status)) packetProblems.push(id);
      status = move?.to ?? status;
    }
    if (status !== packet.status) packetProblems.push(id);
    if (packet.status !== 'CANCELLED' && packet.order_id) rowsOf(liveByOrder, packet.order_id).push(id);
  }
  const ordersWithIssue = new Set([...packetOf.values()].map((packet) => packet.orderId));
  const wrongLive = [...liveByOrder.entries()].filter(([, ids]) => ids.length > 1).map(([order]) => order);
  const issuedByOrder = new Map<string, string[]>();
  for (const [id, packet] of packetOf) rowsOf(issuedByOrder, packet.orderId).push(id);
  for (const order of ordersWithIssue) {
    const issues = issuedByOrder.get(order) ?? [];
    const cancelled = issues.filter((id) => state.redPackets.get(id)?.status === 'CANCELLED').length;
    if ((liveByOrder.get(order)?.length ?? 0) !== issues.length - cancelled) wrongLive.push(order);
  }
  const liveCount = [...liveByOrder.values()].filter((ids) => ids.length === 1).length;
  figure(
    'orders with a wrong set of live red packets (must be exactly the one a valid issue left live)',
    `${wrongLive.length + packetProblems.length} (orders with a valid issue ${ordersWithIssue.size}, with one live packet ${liveCount})${sample([...wrongLive, ...packetProblems])}`,
    wrongLive.length + packetProblems.length === 0,
  );

  // --- Dead letters: exactly the poison commands that were stored.
  const poison = new Set(records.filter((record) => record.poison && state.commands.has(record.envelope.id)).map((record) => record.envelope.id));
  const dead = new Set([...state.commands.values()].filter((row) => row.status === 'dead').map((row) => row.id));
  const extraDead = [...dead].filter((id) => !poison.has(id));
  const poisonNotDead = [...poison].filter((id) => !dead.has(id));
  figure(
    'dead letters = poison commands',
    `${dead.size} dead, ${poison.size} poison, ${extraDead.length} dead not poison, ${poisonNotDead.length} poison not dead${sample([...extraDead, ...poisonNotDead])}`,
    extraDead.length === 0 && poisonNotDead.length === 0 && poison.size > 0,
  );

  // --- Replays and idempotency as the client saw it.
  let terminalAnswers = 0;
  const mismatched: string[] = [];
  let replays = 0;
  let replaysMatching = 0;
  const acceptedTwice: string[] = [];
  let different = 0;
  let different422 = 0;
  let differentOther: string[] = [];
  for (const record of records) {
    const stored = state.commands.get(record.envelope.id);
    let accepted = 0;
    let first: Op | undefined;
    for (const op of record.ops) {
      if (op.kind === 'different') {
        if (op.outcome === 'unknown') continue;
        different++;
        if (op.http === 422 && op.problem === 'idempotency_key_reused') different422++;
        else differentOther = [...differentOther, `${record.envelope.id}:${op.http}`];
        continue;
      }
      if (op.outcome !== 'ok' || !op.seen) continue;
      if (op.kind !== 'read' && !op.replayed) accepted++;
      if (!isTerminalStatus(op.seen.status)) continue;
      terminalAnswers++;
      first ??= op;
      const matchesStored =
        !!stored && stored.status === op.seen.status && same(stored.result, op.seen.result) && (stored.error?.code ?? null) === (op.seen.error?.code ?? null);
      const matchesFirst = op.seen.status === first.seen?.status && same(op.seen.result, first.seen.result);
      if (!matchesStored || !matchesFirst) mismatched.push(record.envelope.id);
      if (op.replayed) {
        replays++;
        if (matchesStored && matchesFirst) replaysMatching++;
      }
    }
    if (accepted > 1) acceptedTwice.push(record.envelope.id);
  }
  const percent = replays === 0 ? '100' : ((100 * replaysMatching) / replays).toFixed(2);
  figure(
    'replays answering the same status and result as the first answer',
    `${percent}% (${replaysMatching} of ${replays})`,
    replaysMatching === replays && replays > 0,
  );
  figure('terminal answers that differ from the stored outcome', `${mismatched.length} of ${terminalAnswers}${sample(mismatched)}`, mismatched.length === 0);
  figure('ids accepted more than once (2xx without Idempotent-Replayed)', `${acceptedTwice.length}${sample(acceptedTwice)}`, acceptedTwice.length === 0);
  figure('re-sends with a different request answered 422 idempotency_key_reused', `${different422} of ${different}${sample(differentOther)}`, different422 === different);

  figure('sessions idle in transaction at the end', state.idleInTransaction, state.idleInTransaction === 0);
  figure('unplanned process exits', input.unplannedExits, input.unplannedExits === 0);
  figure('processes that did not stop cleanly on SIGTERM', input.uncleanStops, input.uncleanStops === 0);
  for (const extra of input.extra ?? []) figures.push(extra);
  return figures;
}

/**
 * The history as the promoted standby knows it: for each command the promotion lost, the answers given
 * before the promotion came from a history that is gone (an asynchronous standby never had it), so only what
 * its client was told afterwards counts (its POST again under the same id, and that command's outcome).
 *
 * @example
 * const checked = afterPromotion(history, { lost: ['c1'], promotedAt });
 */
export function afterPromotion(history: Pick<History, 'commands'>, failover: Pick<FailoverCheckInput, 'lost' | 'promotedAt'>): Pick<History, 'commands'> {
  if (failover.lost.length === 0) return history;
  const lost = new Set(failover.lost);
  const commands = new Map<string, CommandRecord>();
  for (const [id, record] of history.commands) {
    commands.set(id, lost.has(id) ? { ...record, ops: record.ops.filter((op) => op.completedAt >= failover.promotedAt) } : record);
  }
  return { commands };
}

/**
 * The failover's figures: acknowledged commands the promotion lost (synchronous: none may be; asynchronous:
 * counted), every one of them sent again by its client and stored and terminal (each applied once: the double
 * effects figure covers them with every other command), and every command sent before the promotion terminal
 * within the limit of it.
 *
 * @example
 * figures.push(...failoverFigures(history, state, { mode: 'synchronous', killedAt, promotedAt, acknowledged: 71, lost: [], limitSeconds: 30 }));
 */
export function failoverFigures(history: Pick<History, 'commands'>, state: FinalState, input: FailoverCheckInput): Figure[] {
  const mode = input.mode;
  const lostValue = `${input.lost.length} of ${input.acknowledged} acknowledged before the promotion${input.acknowledged === 0 ? ' (none: nothing was checked)' : ''}${sample([...input.lost])}`;
  const unresolved = input.lost.filter((id) => !isTerminalStatus(state.commands.get(id)?.status));
  const poison = new Set([...history.commands.values()].filter((record) => record.poison || record.via).map((record) => record.envelope.id));
  const before = new Set<string>();
  for (const record of history.commands.values()) {
    if (!poison.has(record.envelope.id) && record.ops.some((op) => op.kind !== 'read' && op.invokedAt < input.promotedAt)) before.add(record.envelope.id);
  }
  let worst = 0;
  const late: string[] = [];
  for (const id of before) {
    const row = state.commands.get(id);
    if (!row) continue;
    const ended = typeof row.completed_ms === 'number' ? (row.completed_ms - input.promotedAt) / 1000 : Infinity;
    worst = Math.max(worst, ended);
    if (ended > input.limitSeconds) late.push(id);
  }
  return [
    {
      name: `failover (${mode}): acknowledged commands the promotion lost${mode === 'synchronous' ? '' : ' (reported)'}`,
      value: lostValue,
      ok: input.acknowledged > 0 && (mode === 'asynchronous' || input.lost.length === 0),
    },
    {
      name: `failover (${mode}): lost commands stored and terminal after the promotion (sent again under their id, or applied again)`,
      value: `${input.lost.length - unresolved.length} of ${input.lost.length}${sample(unresolved)}`,
      ok: unresolved.length === 0,
    },
    {
      name: `failover (${mode}): commands sent before the promotion terminal within ${input.limitSeconds}s of it`,
      value: `${late.length} later, of ${before.size} (the last ${Number.isFinite(worst) ? `${worst.toFixed(1)}s` : 'never'} after it; promoted ${((input.promotedAt - input.killedAt) / 1000).toFixed(1)}s after the kill)${sample(late)}`,
      ok: late.length === 0 && before.size > 0,
    },
  ];
}

/**
 * The broker-fed commands held to the HTTP ones' standard: every confirmed publish has exactly one command
 * under its inbox's client id (re-publishes and redeliveries included), every garbage message is in its
 * broker's dead-letter path and no valid one is, nothing is left unacknowledged, and every broker-fed command
 * is terminal within the final wait of the later of the last fault and its first publish. Their effects are
 * checked with everything else (double effects, ledger, order histories).
 *
 * @example
 * figures.push(...brokerFigures(history, state, 42, { clientIds, garbage, deadLetters, pending, lastFaultAt }));
 */
export function brokerFigures(history: Pick<History, 'commands'>, state: FinalState, settleSeconds: number, input: BrokerCheckInput): Figure[] {
  const figures: Figure[] = [];
  const figure = (name: string, value: string, ok: boolean) => figures.push({ name, value, ok });
  const fed = [...history.commands.values()].filter((record) => record.via);
  const perBroker = new Map<string, number>();
  for (const record of fed) perBroker.set(record.via ?? '', (perBroker.get(record.via ?? '') ?? 0) + 1);
  const confirmed = fed.filter((record) => record.ops.some((op) => op.kind === 'publish' && op.outcome === 'ok'));
  const twice = fed.filter((record) => record.ops.filter((op) => op.kind === 'publish').length > 1).length;
  const lost = confirmed.filter((record) => !state.commands.has(record.envelope.id));
  const split = [...perBroker.entries()].map(([broker, n]) => `${broker} ${n}`).join(', ');
  figure(
    'broker-fed commands lost (publish confirmed, no command under the inbox client id)',
    `${lost.length} of ${confirmed.length} (${split}; ${twice} published more than once)${sample(lost.map((r) => r.envelope.id))}`,
    lost.length === 0 && confirmed.length > 0,
  );
  const wrongClient = fed.filter((record) => {
    const row = state.commands.get(record.envelope.id);
    return row !== undefined && row.client_id !== input.clientIds[record.via ?? ''];
  });
  const httpUnderInbox = [...history.commands.values()].filter(
    (record) => !record.via && state.commands.get(record.envelope.id)?.client_id !== undefined && state.commands.get(record.envelope.id)?.client_id !== 'anonymous',
  );
  const shared = state.sharedIds ?? [];
  const misplaced = [...wrongClient, ...httpUnderInbox].map((record) => record.envelope.id);
  figure(
    'commands stored under another client id, or under more than one (each must be one command of its own source)',
    `${misplaced.length + shared.length}${sample([...misplaced, ...shared])}`,
    misplaced.length + shared.length === 0,
  );

  const dead = new Map<string, DeadLetterSeen[]>();
  for (const letter of input.deadLetters) {
    const key = `${letter.broker} ${letter.key ?? ''}`;
    dead.set(key, [...(dead.get(key) ?? []), letter]);
  }
  const published = input.garbage.filter((item) => item.published);
  const missingDead = published.filter((item) => !dead.has(`${item.broker} ${item.key}`)).map((item) => `${item.broker}:${item.key}`);
  const reasons = new Map<string, number>();
  for (const letter of input.deadLetters) reasons.set(letter.reason ?? '?', (reasons.get(letter.reason ?? '?') ?? 0) + 1);
  figure(
    'garbage messages not in the dead-letter path',
    `${missingDead.length} of ${published.length} (${input.deadLetters.length} dead letters: ${[...reasons.entries()].map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none'})${sample(missingDead)}`,
    missingDead.length === 0 && published.length === input.garbage.length && published.length > 0,
  );
  const validDead = input.deadLetters
    .filter((letter) => letter.key !== undefined && history.commands.get(letter.key)?.via === letter.broker)
    .map((letter) => `${letter.broker}:${letter.key}`);
  figure('valid broker messages dead-lettered', `${validDead.length}${sample(validDead)}`, validDead.length === 0);
  const left = Object.values(input.pending).reduce((sum, n) => sum + n, 0);
  figure(
    'messages left unacknowledged in the brokers at the end',
    `${left} (${Object.entries(input.pending)
      .map(([broker, n]) => `${broker} ${n}`)
      .join(', ')})`,
    left === 0,
  );

  const lastFault = input.lastFaultAt ?? 0;
  const late: string[] = [];
  let worst = 0;
  let worstId = '';
  for (const record of fed) {
    const row = state.commands.get(record.envelope.id);
    if (!row) continue;
    const firstPublish = Math.min(...record.ops.filter((op) => op.kind === 'publish').map((op) => op.invokedAt));
    if (typeof row.completed_ms !== 'number' || !isTerminalStatus(row.status)) {
      late.push(`${row.id}:${row.status}`);
      continue;
    }
    const seconds = (row.completed_ms - Math.max(lastFault, firstPublish)) / 1000;
    if (seconds > worst) [worst, worstId] = [seconds, row.id];
    if (seconds > settleSeconds) late.push(`${row.id}:${seconds.toFixed(1)}s`);
  }
  figure(
    `broker-fed commands terminal within ${settleSeconds}s of the later of the last fault and their first publish`,
    `${late.length} late (worst ${worst.toFixed(1)}s${worstId ? `, ${worstId}` : ''})${sample(late)}`,
    late.length === 0,
  );
  return figures;
}

/** An outbox event as stored, with the status of the command that emitted it. */
export interface StoredEvent {
  id: string;
  entity_id: string;
  sequence: number;
  status: string | null;
}

/**
 * The relay's figures (contract guarantee 11): every stored event was published (by its id; duplicates of an
 * id are allowed), nothing was published that is not stored, no event belongs to a command that did not
 * succeed, and each entity's events were first published in the order they were stored.
 *
 * @example
 * figures.push(...relayFigures(stored, published));
 */
export function relayFigures(stored: readonly StoredEvent[], published: readonly { id: string; entityId: string | undefined }[]): Figure[] {
  const publishedIds = new Set(published.map((event) => event.id));
  const storedIds = new Map(stored.map((event) => [event.id, event]));
  const missing = stored.filter((event) => !publishedIds.has(event.id)).map((event) => event.id);
  const phantom = [...publishedIds].filter((id) => !storedIds.has(id));
  const ofFailed = stored.filter((event) => event.status !== 'succeeded').map((event) => event.id);
  const duplicates = published.length - publishedIds.size;
  // Per entity, the stored sequence of each id in the order of its first publication must only grow.
  const lastSequence = new Map<string, number>();
  const first = new Set<string>();
  const outOfOrder: string[] = [];
  for (const event of published) {
    if (first.has(event.id)) continue;
    first.add(event.id);
    const row = storedIds.get(event.id);
    if (!row) continue;
    const before = lastSequence.get(row.entity_id) ?? -Infinity;
    if (row.sequence < before) outOfOrder.push(`${row.entity_id}:${event.id}`);
    lastSequence.set(row.entity_id, Math.max(before, row.sequence));
  }
  return [
    {
      name: 'outbox events not published (by id), or published and not stored',
      value: `${missing.length + phantom.length} (${stored.length} stored, ${published.length} published, ${duplicates} duplicates of an id)${sample([...missing, ...phantom])}`,
      ok: missing.length + phantom.length === 0 && stored.length > 0,
    },
    { name: 'outbox events of commands that did not succeed', value: `${ofFailed.length}${sample(ofFailed)}`, ok: ofFailed.length === 0 },
    {
      name: 'entities whose events were first published out of their stored order',
      value: `${outOfOrder.length} of ${lastSequence.size} entities${sample(outOfOrder)}`,
      ok: outOfOrder.length === 0,
    },
  ];
}

function sample(ids: readonly string[]): string {
  return ids.length === 0 ? '' : ` (e.g. ${[...new Set(ids)].slice(0, 5).join(', ')})`;
}

/** Counts answered / unknown etc. for the summary. */
export function historySummary(records: readonly CommandRecord[]): { commands: number; ops: number; resent: number; unknownOnly: number } {
  let ops = 0;
  let resent = 0;
  let unknownOnly = 0;
  for (const record of records) {
    ops += record.ops.length;
    if (record.ops.filter((op) => op.kind !== 'read').length > 1) resent++;
    if (record.ops.length > 0 && record.ops.every((op) => op.outcome === 'unknown')) unknownOnly++;
  }
  return { commands: records.length, ops, resent, unknownOnly };
}
