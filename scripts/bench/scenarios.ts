// The scenarios: which accounts exist, which commands are measured, how they are submitted, and what the
// accounts must hold afterwards. Pure data, shared by the oncely run and the pg-boss baseline run.
import type { Command } from './http.ts';

export type Mode =
  /** `producers` clients in a closed loop, each posting its next command as soon as the previous one answered. */
  | { kind: 'closed'; producers: number }
  /** `clients` clients in a closed loop, each on its own commands, each request waiting for its outcome. */
  | { kind: 'wait'; clients: number }
  /** One command every 1/rate seconds, whatever the answers. */
  | { kind: 'open'; rate: number }
  /** Submitted in batches while no worker runs; the workers start once everything is stored. */
  | { kind: 'drain'; batchSize: number }
  /** Published to a broker as fast as it confirms, and taken in by `npm run inbox` (the baseline: a closed loop of 8 pg-boss producers). */
  | { kind: 'broker'; broker: 'rabbitmq' | 'nats' | 'redis' };

export interface Workload {
  key: string;
  title: string;
  accounts: string[];
  /** Credited to every account before the measured commands (0: no setup credit). */
  initialBalance: number;
  /** The measured commands; their ids start with MEASURED_PREFIX. */
  commands: Command[];
  mode: Mode;
  /** Every account's balance once all commands succeeded. */
  expectedBalances: Map<string, number>;
  /** Ledger rows once all commands (setup credits included) succeeded. */
  expectedLedgerRows: number;
  /** Ended commands written straight into oncely.commands before the measured phase (the history scenario). */
  historyRows?: number;
}

export const MEASURED_PREFIX = 'm-';

export const SCENARIO_KEYS = ['credits', 'hot', 'transfers', 'wait', 'open', 'drain', 'inbox-rabbitmq', 'inbox-nats', 'inbox-redis', 'history'] as const;
/**
 * What `npm run bench` runs without --scenarios: the inbox scenarios need the brokers, and `history` (oncely
 * on an empty database against oncely over a million ended commands, no baseline) is long, so those are asked for by name.
 */
export const DEFAULT_SCENARIOS = SCENARIO_KEYS.filter((key) => !key.startsWith('inbox-') && key !== 'history');
export type ScenarioKey = (typeof SCENARIO_KEYS)[number];

export interface ScenarioOptions {
  scale: number;
  producers: number;
}

/** A small deterministic generator, so that every run (and both systems) get the same commands. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const scaled = (n: number, scale: number, min = 1) => Math.max(min, Math.round(n * scale));
const accountIds = (n: number) => Array.from({ length: n }, (_, i) => `a-${i}`);

function credits(key: string, title: string, accounts: string[], n: number, mode: Mode, pickAccount: (i: number) => string): Workload {
  const commands: Command[] = [];
  const expectedBalances = new Map(accounts.map((id) => [id, 0]));
  for (let i = 0; i < n; i++) {
    const entityId = pickAccount(i);
    const amount = 1 + (i % 100);
    commands.push({ id: `${MEASURED_PREFIX}${i}`, type: 'account.credit', entityId, payload: { amount } });
    expectedBalances.set(entityId, expectedBalances.get(entityId)! + amount);
  }
  return { key, title, accounts, initialBalance: 0, commands, mode, expectedBalances, expectedLedgerRows: n };
}

function transfers(key: string, title: string, accounts: string[], n: number, mode: Mode): Workload {
  const initialBalance = 1_000_000;
  const next = random(42);
  const commands: Command[] = [];
  const expectedBalances = new Map(accounts.map((id) => [id, initialBalance]));
  for (let i = 0; i < n; i++) {
    const from = accounts[Math.floor(next() * accounts.length)]!;
    let to = from;
    while (to === from) to = accounts[Math.floor(next() * accounts.length)]!;
    const amount = 1 + Math.floor(next() * 100);
    commands.push({ id: `${MEASURED_PREFIX}${i}`, type: 'account.transfer', entityId: from, payload: { to, amount } });
    expectedBalances.set(from, expectedBalances.get(from)! - amount);
    expectedBalances.set(to, expectedBalances.get(to)! + amount);
  }
  // Setup credits: one ledger row per account; each transfer: two.
  return { key, title, accounts, initialBalance, commands, mode, expectedBalances, expectedLedgerRows: accounts.length + 2 * n };
}

/**
 * Builds one scenario at the given scale.
 *
 * @example
 * const w = buildScenario('hot', { scale: 0.1, producers: 8 });
 */
export function buildScenario(key: ScenarioKey, options: ScenarioOptions): Workload {
  const { scale, producers } = options;
  switch (key) {
    case 'credits': {
      const n = scaled(10_000, scale);
      const accounts = accountIds(n);
      return credits(
        key,
        `1. ${n} credits, each on its own account, ${producers} HTTP producers (closed loop)`,
        accounts,
        n,
        { kind: 'closed', producers },
        (i) => accounts[i]!,
      );
    }
    case 'history': {
      const n = scaled(10_000, scale);
      const accounts = accountIds(n);
      const workload = credits(
        key,
        `10. ${n} credits on their own accounts, ${producers} HTTP producers: an empty database against one holding ${scaled(1_000_000, scale)} ended commands`,
        accounts,
        n,
        { kind: 'closed', producers },
        (i) => accounts[i]!,
      );
      return { ...workload, historyRows: scaled(1_000_000, scale) };
    }
    case 'hot': {
      const n = scaled(5_000, scale);
      return credits(key, `2. ${n} credits on one hot account, ${producers} HTTP producers (closed loop)`, ['a-0'], n, { kind: 'closed', producers }, () => 'a-0');
    }
    case 'transfers': {
      const n = scaled(5_000, scale);
      return transfers(key, `3. ${n} transfers among 30 accounts, ${producers} HTTP producers (closed loop)`, accountIds(30), n, { kind: 'closed', producers });
    }
    case 'wait': {
      const clients = 128;
      const n = clients * scaled(20, scale);
      const accounts = accountIds(clients);
      // Client c posts commands c, c + 128, ...: all on its own account.
      return credits(
        key,
        `4. ${clients} clients each waiting for its own outcome (Prefer: wait=30), ${n} credits`,
        accounts,
        n,
        { kind: 'wait', clients },
        (i) => accounts[i % clients]!,
      );
    }
    case 'open': {
      const rate = 50;
      const seconds = Math.max(5, Math.round(20 * scale));
      const n = rate * seconds;
      const accounts = accountIds(100);
      return credits(
        key,
        `5. open loop: ${rate} credits/s for ${seconds} s over 100 accounts`,
        accounts,
        n,
        { kind: 'open', rate },
        (i) => accounts[i % accounts.length]!,
      );
    }
    case 'drain': {
      const n = scaled(100_000, scale);
      const accounts = accountIds(1000);
      return credits(
        key,
        `6. drain of a ${n}-command backlog (batch submission, workers started after), 1000 accounts`,
        accounts,
        n,
        { kind: 'drain', batchSize: 1000 },
        (i) => accounts[i % accounts.length]!,
      );
    }
    case 'inbox-rabbitmq':
    case 'inbox-nats':
    case 'inbox-redis': {
      const broker = key.slice('inbox-'.length) as 'rabbitmq' | 'nats' | 'redis';
      const n = scaled(10_000, scale);
      const accounts = accountIds(100);
      const number = SCENARIO_KEYS.indexOf(key) + 1;
      return credits(
        key,
        `${number}. ${n} credits over 100 accounts published to ${broker} and taken in by the inbox (submissions/s: the broker's confirmed publish rate; end to end: first publish to last terminal); pg-boss: 8 producers`,
        accounts,
        n,
        { kind: 'broker', broker },
        (i) => accounts[i % accounts.length]!,
      );
    }
  }
}

/** Accepts keys or the numbers 1-6. */
export function parseScenarioList(text: string): ScenarioKey[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const byNumber = /^\d+$/.test(s) ? SCENARIO_KEYS[Number(s) - 1] : undefined;
      const key = byNumber ?? (SCENARIO_KEYS as readonly string[]).find((k) => k === s);
      if (!key) throw new Error(`unknown scenario "${s}": choose from ${SCENARIO_KEYS.join(', ')} (or 1-${SCENARIO_KEYS.length})`);
      return key as ScenarioKey;
    });
}
