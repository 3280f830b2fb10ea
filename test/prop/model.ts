// A deliberately simple in-memory model of the reference domains (CONTRACT section 5), written
// without importing any of oncely's decisions, so a mistake there cannot hide in both places.

export interface ModelAccount {
  balance: number;
  version: number;
}
export interface ModelOrder {
  accountId: string;
  amount: number;
  status: 'CREATED' | 'PAID' | 'DELIVERED' | 'COMPLETED' | 'CANCELLED';
  version: number;
}
export interface ModelRedPacket {
  orderId: string;
  accountId: string;
  amount: number;
  status: 'CREATED' | 'PAID' | 'CANCELLED';
  version: number;
}

export interface World {
  accounts: Record<string, ModelAccount>;
  orders: Record<string, ModelOrder>;
  redPackets: Record<string, ModelRedPacket>;
  /** Ledger entries per account as `commandId amount`, in no particular order. */
  ledger: Record<string, string[]>;
}

export interface ModelCommand {
  id: string;
  type: string;
  entityId: string;
  expectedVersion: number | undefined;
  payload: Record<string, unknown>;
}

/** What a client sees of an ended command, minus timestamps and messages. */
export type Seen = { status: 'succeeded'; result: unknown } | { status: 'rejected' | 'conflict'; code: string; details: Record<string, unknown> | null };

export const emptyWorld = (): World => ({ accounts: {}, orders: {}, redPackets: {}, ledger: {} });

const ok = (result: unknown): Seen => ({ status: 'succeeded', result });
const no = (code: string, details: Record<string, unknown> | null = null): Seen => ({ status: 'rejected', code, details });
const conflict = (expectedVersion: number, actualVersion: number): Seen => ({
  status: 'conflict',
  code: 'version_conflict',
  details: { expectedVersion, actualVersion },
});
const notFound = (id: string) => no('not_found', { id });
const illegal = (from: string, to: string) => no('illegal_transition', { from, to });
const stale = (command: ModelCommand, version: number) =>
  command.expectedVersion !== undefined && command.expectedVersion !== version ? conflict(command.expectedVersion, version) : null;

const ORDER_EDGES: Record<string, { from: string[]; to: ModelOrder['status'] }> = {
  'order.pay': { from: ['CREATED'], to: 'PAID' },
  'order.ship': { from: ['PAID'], to: 'DELIVERED' },
  'order.complete': { from: ['DELIVERED'], to: 'COMPLETED' },
  'order.cancel': { from: ['CREATED', 'PAID'], to: 'CANCELLED' },
};

function post(world: World, accountId: string, command: ModelCommand, amount: number): ModelAccount {
  const account = world.accounts[accountId]!;
  const next = { balance: account.balance + amount, version: account.version + 1 };
  world.accounts[accountId] = next;
  (world.ledger[accountId] ??= []).push(`${command.id} ${amount}`);
  return next;
}

/** Applies one command to a copy of the world; returns what the client must see and the next world. */
export function applyToModel(before: World, command: ModelCommand): { seen: Seen; world: World } {
  const world: World = structuredClone(before);
  const seen = decide(world, command);
  // A refusal leaves no trace: the processor rolls the handler's writes back.
  return { seen, world: seen.status === 'succeeded' ? world : before };
}

function decide(world: World, c: ModelCommand): Seen {
  const p = c.payload;
  const id = c.entityId;
  switch (c.type) {
    case 'account.open': {
      const existing = world.accounts[id];
      if (existing) return stale(c, existing.version) ?? no('already_exists');
      if (stale(c, 0)) return stale(c, 0)!;
      world.accounts[id] = { balance: 0, version: 1 };
      return ok({ balance: 0, version: 1 });
    }
    case 'account.credit':
    case 'account.debit': {
      const account = world.accounts[id];
      if (!account) return notFound(id);
      const conflicting = stale(c, account.version);
      if (conflicting) return conflicting;
      const amount = p['amount'] as number;
      if (c.type === 'account.debit' && account.balance < amount) {
        return no('insufficient_funds', { accountId: id, balance: account.balance, amount });
      }
      return ok(post(world, id, c, c.type === 'account.credit' ? amount : -amount));
    }
    case 'account.transfer': {
      const to = p['to'] as string;
      const amount = p['amount'] as number;
      if (to === id) return no('same_account');
      const source = world.accounts[id];
      if (!source) return notFound(id);
      if (!world.accounts[to]) return notFound(to);
      const conflicting = stale(c, source.version);
      if (conflicting) return conflicting;
      if (source.balance < amount) return no('insufficient_funds', { accountId: id, balance: source.balance, amount });
      const from = post(world, id, c, -amount);
      const into = post(world, to, c, amount);
      return ok({ from, to: into });
    }
    case 'order.create': {
      const accountId = p['accountId'] as string;
      if (!world.accounts[accountId]) return notFound(accountId);
      const existing = world.orders[id];
      if (existing) return stale(c, existing.version) ?? no('already_exists');
      if (stale(c, 0)) return stale(c, 0)!;
      world.orders[id] = { accountId, amount: p['amount'] as number, status: 'CREATED', version: 1 };
      return ok({ status: 'CREATED', version: 1 });
    }
    case 'order.pay':
    case 'order.ship':
    case 'order.complete':
    case 'order.cancel': {
      const order = world.orders[id];
      if (!order) return notFound(id);
      const conflicting = stale(c, order.version);
      if (conflicting) return conflicting;
      const edge = ORDER_EDGES[c.type]!;
      if (!edge.from.includes(order.status)) return illegal(order.status, edge.to);
      if (c.type === 'order.pay') {
        const account = world.accounts[order.accountId]!;
        if (account.balance < order.amount) {
          return no('insufficient_funds', { accountId: order.accountId, balance: account.balance, amount: order.amount });
        }
        post(world, order.accountId, c, -order.amount);
      }
      if (c.type === 'order.cancel' && order.status === 'PAID') post(world, order.accountId, c, order.amount);
      world.orders[id] = { ...order, status: edge.to, version: order.version + 1 };
      return ok({ status: edge.to, version: order.version + 1 });
    }
    case 'redPacket.issue': {
      const orderId = p['orderId'] as string;
      const accountId = p['accountId'] as string;
      const order = world.orders[orderId];
      if (!order) return notFound(orderId);
      if (order.status === 'CANCELLED') return no('order_not_eligible', { orderId, status: 'CANCELLED' });
      if (!world.accounts[accountId]) return notFound(accountId);
      const existing = world.redPackets[id];
      if (existing) return stale(c, existing.version) ?? no('already_exists');
      const live = Object.entries(world.redPackets).find(([, rp]) => rp.orderId === orderId && rp.status !== 'CANCELLED');
      if (live) return no('already_issued', { redPacketId: live[0] });
      if (stale(c, 0)) return stale(c, 0)!;
      world.redPackets[id] = { orderId, accountId, amount: p['amount'] as number, status: 'CREATED', version: 1 };
      return ok({ status: 'CREATED', version: 1 });
    }
    case 'redPacket.pay':
    case 'redPacket.cancel': {
      const redPacket = world.redPackets[id];
      if (!redPacket) return notFound(id);
      const conflicting = stale(c, redPacket.version);
      if (conflicting) return conflicting;
      const to = c.type === 'redPacket.pay' ? 'PAID' : 'CANCELLED';
      if (redPacket.status !== 'CREATED') return illegal(redPacket.status, to);
      if (to === 'PAID') post(world, redPacket.accountId, c, redPacket.amount);
      world.redPackets[id] = { ...redPacket, status: to, version: redPacket.version + 1 };
      return ok({ status: to, version: redPacket.version + 1 });
    }
    default:
      throw new Error(`the model does not know ${c.type}`);
  }
}

/** A stable text for a world (keys sorted, ledgers sorted), to compare and deduplicate worlds. */
export function worldKey(world: World): string {
  return stableStringify({ ...world, ledger: Object.fromEntries(Object.entries(world.ledger).map(([k, v]) => [k, [...v].sort()])) });
}

export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Every ordering of a few items (the ways concurrent commands may have been serialised). */
export function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}
